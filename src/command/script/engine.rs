//! The per-core Lua engine behind EVAL: one LuaJIT state per core, with the sandbox of
//! `prelude.lua` (read-only globals and libraries, an error for any unknown global, the
//! `redis`, `cjson` and `cmsgpack` libraries), the scripts compiled so far by SHA1, and the
//! function libraries' functions.
//!
//! LuaJIT runs with its compiler off: a count hook does not fire inside compiled traces, and
//! SCRIPT KILL needs it. Its interpreter keeps what makes it the right Lua here: Lua 5.1's
//! language, as redis-server's scripts expect, and coroutines that yield across `pcall`, so a
//! script that wraps `redis.call` in `pcall` still reaches the driver (`run.rs`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hashbrown::HashMap;
use mlua::{Function, HookTriggers, LightUserData, Lua, LuaOptions, StdLib, Table, Value, VmState};

use super::convert;

/// Instructions between two looks at a SCRIPT KILL request.
const KILL_CHECK_EVERY: u32 = 10_000;

/// Set by SCRIPT KILL; the running script's hook sees it and fails the script.
pub static KILL_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Lua memory of each core (INFO's `used_memory_lua` is their sum).
pub static LUA_MEMORY: [AtomicUsize; 1024] = [const { AtomicUsize::new(0) }; 1024];

/// Scripts known to every core (INFO's `number_of_cached_scripts`), and their source bytes.
pub static CACHED_SCRIPTS: AtomicUsize = AtomicUsize::new(0);
pub static CACHED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// `redis.set_repl`'s flags: which destinations the script's next writes go to.
pub const REPL_REPLICA: u8 = 2;
pub const REPL_ALL: u8 = 3;

pub struct Engine {
    pub lua: Lua,
    /// First value of a yield that asks for a command (a script's own yields lack it).
    pub mark: Table,
    /// Runs a compiled script under `xpcall`: `true, value` or `false, {err, line}`.
    pub runner: Function,
    /// Compiled scripts by lower-case hex SHA1.
    functions: RefCell<HashMap<String, Function>>,
    /// `redis.setresp`: the protocol of the replies `redis.call` hands the script.
    pub resp: Rc<Cell<u8>>,
    /// `redis.set_repl`: REPL_* flags for the writes that follow.
    pub repl: Rc<Cell<u8>>,
    /// Set by the hook when it failed the script on a SCRIPT KILL.
    pub killed: Rc<Cell<bool>>,
    /// Runs a library's code in load mode (see prelude.lua).
    load_library: Function,
    /// The functions of every library, compiled in this state, at `library_generation`.
    library_functions: RefCell<HashMap<String, (Function, super::library::FunctionInfo)>>,
    library_generation: Cell<u64>,
    /// A finished coroutine, reset for the next script instead of making a new one.
    spare: RefCell<Option<mlua::Thread>>,
    /// The buffer a call's reply is written to, kept between calls.
    pub reply_buffer: Cell<Vec<u8>>,
}

thread_local! {
    static ENGINE: RefCell<Option<Rc<Engine>>> = const { RefCell::new(None) };
    /// Script sources by SHA1: the same on every core (SCRIPT LOAD and EVAL tell every core).
    static SOURCES: RefCell<HashMap<String, Rc<[u8]>>> = RefCell::new(HashMap::new());
}

/// This core's engine, made on first use.
pub fn local() -> Result<Rc<Engine>, String> {
    ENGINE.with(|cell| {
        if let Some(e) = &*cell.borrow() {
            return Ok(e.clone());
        }
        let engine = Rc::new(Engine::new().map_err(|e| format!("ERR cannot start Lua: {e}"))?);
        *cell.borrow_mut() = Some(engine.clone());
        Ok(engine)
    })
}

/// The source of a cached script.
pub fn source(sha: &str) -> Option<Rc<[u8]>> {
    SOURCES.with(|s| s.borrow().get(sha).cloned())
}

/// Caches `body` under `sha` on this core.
pub fn remember(sha: String, body: Vec<u8>) {
    SOURCES.with(|s| {
        let mut s = s.borrow_mut();
        s.entry(sha).or_insert_with(|| body.into());
        // Every core holds the same scripts, so each may publish the totals.
        CACHED_SCRIPTS.store(s.len(), Ordering::Relaxed);
        CACHED_BYTES.store(s.values().map(|b| b.len()).sum(), Ordering::Relaxed);
    });
}

/// SCRIPT FLUSH on this core: forgets every script and starts a fresh Lua state.
pub fn flush_core(core: usize) {
    SOURCES.with(|s| s.borrow_mut().clear());
    ENGINE.with(|e| *e.borrow_mut() = None);
    CACHED_SCRIPTS.store(0, Ordering::Relaxed);
    CACHED_BYTES.store(0, Ordering::Relaxed);
    if let Some(slot) = LUA_MEMORY.get(core) {
        slot.store(0, Ordering::Relaxed);
    }
}

/// Lower-case hex SHA1 of `bytes`, as redis-server names scripts.
pub fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    use std::fmt::Write;
    let mut hex = String::with_capacity(40);
    for b in Sha1::digest(bytes) {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

impl Engine {
    fn new() -> mlua::Result<Engine> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::BIT | StdLib::JIT;
        // SAFETY: the debug library is loaded only for the prelude, which keeps `getinfo` in a
        // local and removes `debug` (and every other global) from the scripts' reach.
        let lua = unsafe { Lua::unsafe_new_with(libs | StdLib::DEBUG, LuaOptions::new()) };
        lua.load("jit.off() jit.flush()").set_name("=shoal").exec()?;
        let resp = Rc::new(Cell::new(2u8));
        let repl = Rc::new(Cell::new(REPL_ALL));
        let killed = Rc::new(Cell::new(false));
        let helpers = lua.create_table()?;
        helpers.set("version", crate::server::REDIS_VERSION)?;
        helpers.set("version_num", version_num(crate::server::REDIS_VERSION))?;
        helpers.set("sha1hex", lua.create_function(sha1hex)?)?;
        helpers.set("log", lua.create_function(log)?)?;
        let r = resp.clone();
        helpers.set(
            "setresp",
            lua.create_function(move |_, v: Value| {
                Ok(match number(&v) {
                    Some(n) if n == 2.0 || n == 3.0 => {
                        r.set(n as u8);
                        (None, Value::Nil)
                    }
                    _ => (Some("ERR RESP version must be 2 or 3."), Value::Nil),
                })
            })?,
        )?;
        let r = repl.clone();
        helpers.set(
            "set_repl",
            lua.create_function(move |_, v: Value| {
                Ok(match number(&v) {
                    Some(n) if (0.0..=3.0).contains(&n) && n.fract() == 0.0 => {
                        r.set(n as u8);
                        (None, Value::Nil)
                    }
                    _ => (
                        Some("ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."),
                        Value::Nil,
                    ),
                })
            })?,
        )?;
        convert::add_cjson(&lua, &helpers)?;
        super::msgpack::add_cmsgpack(&lua, &helpers)?;
        helpers.set(
            "error_text",
            lua.create_function(|_, e: Value| {
                Ok(match e {
                    Value::Error(e) => lua_message(&e),
                    _ => "unknown error".to_string(),
                })
            })?,
        )?;
        let prelude = lua
            .load(include_str!("prelude.lua"))
            .set_name("=shoal")
            .into_function()?;
        let (mark, runner, load_library): (Table, Function, Function) = prelude.call(helpers)?;
        let k = killed.clone();
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(KILL_CHECK_EVERY),
            move |_, _| {
                if KILL_REQUESTED.load(Ordering::Relaxed) {
                    k.set(true);
                    return Err(mlua::Error::runtime("Script killed by user with SCRIPT KILL..."));
                }
                Ok(VmState::Continue)
            },
        )?;
        Ok(Engine {
            lua,
            mark,
            runner,
            functions: RefCell::new(HashMap::new()),
            resp,
            repl,
            killed,
            load_library,
            library_functions: RefCell::new(HashMap::new()),
            library_generation: Cell::new(u64::MAX),
            spare: RefCell::new(None),
            reply_buffer: Cell::new(Vec::new()),
        })
    }

    /// The compiled script `sha` (compiling `body` the first time), or redis-server's
    /// compile error.
    pub fn function(&self, sha: &str, body: &[u8]) -> Result<Function, String> {
        if let Some(f) = self.functions.borrow().get(sha) {
            return Ok(f.clone());
        }
        let f = self
            .lua
            .load(body)
            .set_name("@user_script")
            .into_function()
            .map_err(|e| format!("ERR Error compiling script (new function): {}", lua_message(&e)))?;
        self.functions.borrow_mut().insert(sha.to_string(), f.clone());
        Ok(f)
    }

    /// Compiles and runs a library's code: its name and functions, or redis-server's error.
    pub fn load_library(&self, code: &[u8]) -> Result<super::library::Library, String> {
        self.library_parts(code).map(|(lib, _)| lib)
    }

    #[allow(clippy::type_complexity)]
    fn library_parts(
        &self,
        code: &[u8],
    ) -> Result<(super::library::Library, Vec<(Function, super::library::FunctionInfo)>), String> {
        use super::library::{FunctionInfo, Library, parse_shebang};
        let (name, body) = parse_shebang(code)?;
        let chunk = self
            .lua
            .load(&body[..])
            .set_name("@user_function")
            .into_function()
            .map_err(|e| format!("ERR Error compiling function: {}", lua_message(&e)))?;
        let (registered, failed): (Option<Table>, Option<String>) = self
            .load_library
            .call(chunk)
            .map_err(|e| format!("ERR Error registering functions: ERR {}", lua_message(&e)))?;
        if let Some(e) = failed {
            return Err(format!("ERR Error registering functions: {e}"));
        }
        let mut functions = Vec::new();
        for entry in registered
            .into_iter()
            .flat_map(|t| t.sequence_values::<Table>().collect::<Vec<_>>())
        {
            let entry = entry.map_err(|e| format!("ERR {}", lua_message(&e)))?;
            let info = FunctionInfo {
                name: entry.get("name").unwrap_or_default(),
                description: entry.get("description").ok(),
                flags: entry
                    .get::<Table>("flags")
                    .map(|t| t.sequence_values::<String>().filter_map(Result::ok).collect())
                    .unwrap_or_default(),
            };
            let callback: Function = entry.get("callback").map_err(|e| format!("ERR {}", lua_message(&e)))?;
            functions.push((callback, info));
        }
        if functions.is_empty() {
            return Err("ERR No functions registered".into());
        }
        let lib = Library {
            name,
            code: code.into(),
            functions: functions.iter().map(|(_, i)| i.clone()).collect(),
        };
        Ok((lib, functions))
    }

    /// Function `name` of the registered libraries, compiled in this state (the libraries are
    /// compiled again here after any change to them).
    pub fn library_function(&self, name: &str) -> Option<(Function, super::library::FunctionInfo)> {
        let generation = super::library::generation();
        if self.library_generation.get() != generation {
            let mut map = HashMap::new();
            for lib in super::library::all() {
                // The registry holds only code that loaded; a failure here would be this
                // state's own, and leaves the library's functions out.
                if let Ok((_, functions)) = self.library_parts(&lib.code) {
                    for (f, info) in functions {
                        map.insert(info.name.clone(), (f, info));
                    }
                }
            }
            *self.library_functions.borrow_mut() = map;
            self.library_generation.set(generation);
        }
        self.library_functions.borrow().get(name).cloned()
    }

    /// A coroutine that will run `runner`: the one the last script finished in, or a new one.
    pub fn coroutine(&self) -> mlua::Result<mlua::Thread> {
        if let Some(t) = self.spare.borrow_mut().take() {
            t.reset(self.runner.clone())?;
            return Ok(t);
        }
        self.lua.create_thread(self.runner.clone())
    }

    /// Keeps a coroutine that has finished, for `coroutine`.
    pub fn keep_coroutine(&self, t: mlua::Thread) {
        *self.spare.borrow_mut() = Some(t);
    }

    /// The runner's arguments for one script: the function, how many keys, then the keys
    /// and the arguments (the runner makes them KEYS and ARGV).
    pub fn runner_args(
        &self,
        func: Function,
        is_script: bool,
        keys: &[crate::resp::Arg],
        args: &[crate::resp::Arg],
    ) -> mlua::Result<mlua::MultiValue> {
        let mut values = mlua::MultiValue::with_capacity(3 + keys.len() + args.len());
        values.push_back(Value::Function(func));
        values.push_back(Value::Boolean(is_script));
        values.push_back(Value::Integer(keys.len() as i64));
        for a in keys.iter().chain(args) {
            values.push_back(Value::String(self.lua.create_string(&a[..])?));
        }
        Ok(values)
    }

    /// Records this core's Lua memory for INFO.
    pub fn note_memory(&self, core: usize) {
        if let Some(slot) = LUA_MEMORY.get(core) {
            slot.store(self.lua.used_memory(), Ordering::Relaxed);
        }
    }
}

/// The message of a Lua error, without mlua's own wrapping.
pub fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        other => other.to_string(),
    }
}

/// A Lua number (or a string that reads as one, as Lua's own coercion allows).
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => std::str::from_utf8(&s.as_bytes()).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// "7.0.15" as redis-server's REDIS_VERSION_NUM: 0x00MMmmpp.
fn version_num(v: &str) -> i64 {
    v.split('.')
        .take(3)
        .fold(0, |acc, part| (acc << 8) | part.parse::<i64>().unwrap_or(0))
}

/// `redis.sha1hex(x)`: (error) or (nil, hex).
fn sha1hex(_: &Lua, args: mlua::MultiValue) -> mlua::Result<(Option<&'static str>, Option<String>)> {
    if args.len() != 1 {
        return Ok((Some("ERR wrong number of arguments"), None));
    }
    let bytes = match &args[0] {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Integer(i) => i.to_string().into_bytes(),
        Value::Number(n) => {
            let mut b = Vec::new();
            crate::util::num::format_double(*n, &mut b);
            b
        }
        _ => Vec::new(),
    };
    Ok((None, Some(sha1_hex(&bytes))))
}

/// `redis.log(level, message...)`: into the server's log.
fn log(_: &Lua, args: mlua::MultiValue) -> mlua::Result<(Option<&'static str>, Value)> {
    use crate::server::log::Level;
    if args.len() < 2 {
        return Ok((Some("ERR redis.log() requires two arguments or more."), Value::Nil));
    }
    let level = match number(&args[0]).filter(|x| x.fract() == 0.0).map(|x| x as i64) {
        Some(0) => Level::Debug,
        Some(1) => Level::Verbose,
        Some(2) => Level::Notice,
        Some(3) => Level::Warning,
        _ => return Ok((Some("ERR Invalid debug level."), Value::Nil)),
    };
    let mut text = String::new();
    for (i, v) in args.iter().skip(1).enumerate() {
        if i > 0 {
            text.push(' ');
        }
        match v {
            Value::String(s) => text.push_str(&String::from_utf8_lossy(&s.as_bytes())),
            Value::Integer(n) => text.push_str(&n.to_string()),
            Value::Number(n) => {
                let mut b = Vec::new();
                crate::util::num::format_double(*n, &mut b);
                text.push_str(&String::from_utf8_lossy(&b));
            }
            _ => {}
        }
    }
    crate::server::log::log(level, &text);
    Ok((None, Value::Nil))
}

/// cjson.null: a light userdata holding NULL, as the cjson library spells JSON's null.
pub fn json_null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// What INFO reports of scripting.
pub struct Stats {
    pub lua_memory: u64,
    pub cached: u64,
    pub source_bytes: u64,
}

pub fn stats() -> Stats {
    Stats {
        lua_memory: LUA_MEMORY.iter().map(|m| m.load(Ordering::Relaxed) as u64).sum(),
        cached: CACHED_SCRIPTS.load(Ordering::Relaxed) as u64,
        source_bytes: CACHED_BYTES.load(Ordering::Relaxed) as u64,
    }
}
