-- Shoal's script sandbox, run once per core when its Lua state is made (engine.rs).
-- Receives the Rust helpers, returns what the driver needs. Everything the scripts may use
-- ends up behind read-only proxies, so no script can change what the next one sees.
local helpers = ...
local getinfo = debug.getinfo
local yield = coroutine.yield
local error, type, tostring, setmetatable, rawset, xpcall, pairs =
    error, type, tostring, setmetatable, rawset, xpcall, pairs

-- The first value of every yield that asks the driver to run a command.
local mark = {}

-- Line and source of the innermost frame of the script or function itself, for the
-- "on @user_script:N." suffix.
local function script_line()
    for level = 2, 64 do
        local info = getinfo(level, 'Sl')
        if info == nil then
            return nil
        end
        if info.source == '@user_script' or info.source == '@user_function' then
            return info.currentline, info.source
        end
    end
end

-- An error in any form, as the table the driver formats: {err = text, line = n, source = s}.
local function on_error(e)
    local text
    if type(e) == 'table' and e.err ~= nil then
        text = tostring(e.err)
    elseif type(e) == 'userdata' then
        text = 'ERR ' .. helpers.error_text(e)
    else
        text = 'ERR ' .. tostring(e)
    end
    local line, source = script_line()
    return {err = text, line = line, source = source}
end

local function raise(text)
    error({err = text}, 0)
end

-- A helper returns (nil, value) or (error text): raise the text as the script's error.
local function checked(f)
    return function(...)
        local failed, value = f(...)
        if failed ~= nil then
            raise(failed)
        end
        return value
    end
end

-- A helper returns (nil, value) or (error text): raise the text with the caller's position,
-- as a C library function's luaL_error does.
local function positioned(f)
    return function(...)
        local failed, value = f(...)
        if failed ~= nil then
            error(failed, 2)
        end
        return value
    end
end

local function read_only(t)
    return setmetatable({}, {
        __index = t,
        __newindex = function()
            error('Attempt to modify a readonly table', 2)
        end,
        __metatable = false,
    })
end

local redis = {
    call = function(...)
        local ok, reply = yield(mark, false, ...)
        if ok then
            return reply
        end
        error(reply, 0)
    end,
    pcall = function(...)
        local _, reply = yield(mark, true, ...)
        return reply
    end,
    error_reply = function(text)
        if type(text) ~= 'string' and type(text) ~= 'number' then
            raise('ERR wrong number or type of arguments')
        end
        return {err = tostring(text)}
    end,
    status_reply = function(text)
        if type(text) ~= 'string' and type(text) ~= 'number' then
            raise('ERR wrong number or type of arguments')
        end
        return {ok = tostring(text)}
    end,
    sha1hex = checked(helpers.sha1hex),
    log = checked(helpers.log),
    setresp = checked(helpers.setresp),
    set_repl = checked(helpers.set_repl),
    replicate_commands = function()
        return true
    end,
    breakpoint = function()
        return false
    end,
    debug = function() end,
    REDIS_VERSION = helpers.version,
    REDIS_VERSION_NUM = helpers.version_num,
    LOG_DEBUG = 0,
    LOG_VERBOSE = 1,
    LOG_NOTICE = 2,
    LOG_WARNING = 3,
    REPL_NONE = 0,
    REPL_AOF = 1,
    REPL_SLAVE = 2,
    REPL_REPLICA = 2,
    REPL_ALL = 3,
}

-- What a script sees as globals: the libraries redis-server 7.0 offers, read-only.
local libraries = {}
for _, name in pairs({'string', 'table', 'math', 'bit', 'coroutine'}) do
    libraries[name] = read_only(_G[name])
end
libraries.redis = read_only(redis)

-- A script's own pcall sees a command's error as its text, as on redis-server 7.0 (the
-- error travels as a table so that the reply keeps its code without an ERR prefix).
local function as_text(ok, ...)
    if not ok then
        local e = ...
        if type(e) == 'table' and e.err ~= nil then
            return false, e.err
        end
    end
    return ok, ...
end
local builtin_pcall = pcall
libraries.pcall = function(f, ...)
    return as_text(builtin_pcall(f, ...))
end
-- Like `positioned`, for a helper whose values come as (nil, table, count).
local function positioned_all(f)
    return function(...)
        local failed, values, n = f(...)
        if failed ~= nil then
            error(failed, 2)
        end
        return unpack(values, 1, n)
    end
end
local unpack_all = positioned_all(helpers.cmsgpack_unpack)
libraries.cmsgpack = read_only({
    pack = positioned(helpers.cmsgpack_pack),
    unpack = function(data)
        return unpack_all(data)
    end,
    unpack_one = function(data, offset)
        return unpack_all(data, 1, offset)
    end,
    unpack_limit = function(data, limit, offset)
        return unpack_all(data, limit, offset)
    end,
})
libraries.cjson = read_only({
    encode = positioned(helpers.cjson_encode),
    decode = positioned(helpers.cjson_decode),
    null = helpers.cjson_null,
})
for _, name in pairs({
    'assert', 'collectgarbage', 'error', 'gcinfo', 'getmetatable', 'ipairs', 'load',
    'loadstring', 'next', 'pairs', 'rawequal', 'rawget', 'rawset', 'select',
    'setmetatable', 'tonumber', 'tostring', 'type', 'unpack', 'xpcall', '_VERSION',
}) do
    libraries[name] = _G[name]
end

-- Empty the real globals and route every read through `libraries`; a read of a name that
-- is nowhere fails, as does any new global. Code compiled later (loadstring) gets the same
-- globals, so it is held by the same rules.
local globals = _G
local names = {}
for name in pairs(globals) do
    names[#names + 1] = name
end
for _, name in pairs(names) do
    rawset(globals, name, nil)
end
libraries._G = globals
setmetatable(libraries, {
    __index = function(_, name)
        error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
    end,
    __metatable = false,
})
setmetatable(globals, {
    __index = libraries,
    __newindex = function()
        error('Attempt to modify a readonly table', 2)
    end,
    __metatable = false,
})

-- FUNCTION LOAD: while a library's code runs, `redis` is a smaller table whose
-- register_function collects the library's functions; the functions themselves, called
-- later, find the whole `redis` again (the name is looked up when they run).
local FLAGS = {
    ['no-writes'] = true,
    ['allow-oom'] = true,
    ['allow-stale'] = true,
    ['no-cluster'] = true,
    ['allow-cross-slot-keys'] = true,
}
local registered
local function register_function(...)
    local name, callback, flags, description
    local first = ...
    if type(first) == 'table' then
        for k in pairs(first) do
            if k ~= 'function_name' and k ~= 'callback' and k ~= 'flags' and k ~= 'description' then
                raise('ERR unknown argument given to register_function')
            end
        end
        name, callback, flags, description = first.function_name, first.callback, first.flags, first.description
    else
        if select('#', ...) ~= 2 then
            raise('ERR wrong number of arguments to redis.register_function')
        end
        name, callback = ...
    end
    if type(name) ~= 'string' or name == '' or name:find('[^%w_]') then
        raise('ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
    end
    if type(callback) ~= 'function' then
        raise('ERR callback is missing or is not a function')
    end
    local given = {}
    if flags ~= nil then
        if type(flags) ~= 'table' then
            raise('ERR flags argument to redis.register_function must be a table representing function flags')
        end
        for _, f in ipairs(flags) do
            if not FLAGS[f] then
                raise('ERR unknown flag given')
            end
            given[#given + 1] = f
        end
    end
    if description ~= nil and type(description) ~= 'string' then
        raise('ERR description argument given to redis.register_function must be a string')
    end
    for _, r in ipairs(registered) do
        if r.name == name then
            raise('ERR Function already exists in the library')
        end
    end
    registered[#registered + 1] = {name = name, callback = callback, flags = given, description = description}
end
local loading_redis = setmetatable({}, {
    __index = function(_, name)
        if name == 'register_function' then
            return register_function
        end
        if name == 'log' or name == 'setresp' or name == 'REDIS_VERSION' or name == 'REDIS_VERSION_NUM'
            or (type(name) == 'string' and name:find('^LOG_')) then
            return redis[name]
        end
        error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
    end,
    __newindex = function()
        error('Attempt to modify a readonly table', 2)
    end,
    __metatable = false,
})

-- Runs a library's compiled code: its functions as {name, callback, flags, description}, or
-- nil and the error text.
local function load_library(chunk)
    registered = {}
    rawset(_G, 'redis', loading_redis)
    local ok, e = builtin_pcall(chunk)
    rawset(_G, 'redis', nil)
    local out = registered
    registered = nil
    if not ok then
        if type(e) == 'table' and e.err ~= nil then
            return nil, tostring(e.err)
        end
        return nil, 'ERR ' .. tostring(e)
    end
    return out
end

-- The body of every script's coroutine: makes tables of the keys and arguments (the first
-- `nkeys` of `...`), sets them as KEYS and ARGV for a script, then runs it with them.
local select = select
local function run(f, is_script, nkeys, ...)
    local keys, args = {}, {}
    for i = 1, nkeys do
        keys[i] = (select(i, ...))
    end
    for i = nkeys + 1, select('#', ...) do
        args[i - nkeys] = (select(i, ...))
    end
    -- A function gets them as its arguments only.
    rawset(globals, 'KEYS', is_script and keys or nil)
    rawset(globals, 'ARGV', is_script and args or nil)
    return xpcall(f, on_error, keys, args)
end

return mark, run, load_library
