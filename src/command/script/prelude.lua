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

-- Line of the innermost frame of the script itself, for the "on @user_script:N." suffix.
local function script_line()
    for level = 2, 64 do
        local info = getinfo(level, 'Sl')
        if info == nil then
            return nil
        end
        if info.source == '@user_script' then
            return info.currentline
        end
    end
end

-- An error in any form, as the table the driver formats: {err = text, line = n}.
local function on_error(e)
    local text
    if type(e) == 'table' and e.err ~= nil then
        text = tostring(e.err)
    elseif type(e) == 'userdata' then
        text = 'ERR ' .. helpers.error_text(e)
    else
        text = 'ERR ' .. tostring(e)
    end
    return {err = text, line = script_line()}
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

-- The body of every script's coroutine: sets KEYS and ARGV from its arguments (the first
-- `nkeys` are the keys), then runs the script.
local select = select
local function run(f, nkeys, ...)
    local keys, args = {}, {}
    for i = 1, nkeys do
        keys[i] = (select(i, ...))
    end
    for i = nkeys + 1, select('#', ...) do
        args[i - nkeys] = (select(i, ...))
    end
    rawset(globals, 'KEYS', keys)
    rawset(globals, 'ARGV', args)
    return xpcall(f, on_error)
end

return mark, run
