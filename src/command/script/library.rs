//! Function libraries (FUNCTION LOAD): their code and what they register, for every core.
//!
//! The process keeps one registry of libraries (name, code, functions and their flags). It is
//! cold: written by FUNCTION LOAD / DELETE / FLUSH and by an RDB load, read by FUNCTION LIST
//! and STATS and by saves; a `generation` count tells each core's engine when to compile the
//! libraries again into its own Lua state (on the next FCALL there), so no library is ever
//! shipped between cores.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// One function of a library, as FUNCTION LIST shows it.
#[derive(Clone, Debug)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<String>,
    pub flags: Vec<String>,
}

impl FunctionInfo {
    pub fn no_writes(&self) -> bool {
        self.flags.iter().any(|f| f == "no-writes")
    }
}

#[derive(Clone, Debug)]
pub struct Library {
    pub name: String,
    pub code: Arc<[u8]>,
    pub functions: Vec<FunctionInfo>,
}

static REGISTRY: RwLock<BTreeMap<String, Library>> = RwLock::new(BTreeMap::new());
static GENERATION: AtomicU64 = AtomicU64::new(0);

pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Every library, by name.
pub fn all() -> Vec<Library> {
    REGISTRY
        .read()
        .map(|r| r.values().cloned().collect())
        .unwrap_or_default()
}

/// The code of every library, for a save.
pub fn codes() -> Vec<Arc<[u8]>> {
    REGISTRY
        .read()
        .map(|r| r.values().map(|l| l.code.clone()).collect())
        .unwrap_or_default()
}

/// Adds `lib`; with `replace`, in place of a library of the same name. Fails as
/// redis-server fails on a name taken by another library or function.
pub fn add(lib: Library, replace: bool) -> Result<(), String> {
    let mut r = REGISTRY
        .write()
        .map_err(|_| "ERR function registry unavailable".to_string())?;
    if r.contains_key(&lib.name) && !replace {
        return Err(format!("ERR Library '{}' already exists", lib.name));
    }
    for other in r.values().filter(|o| o.name != lib.name) {
        if let Some(f) = lib
            .functions
            .iter()
            .find(|f| other.functions.iter().any(|g| g.name == f.name))
        {
            return Err(format!("ERR Function {} already exists", f.name));
        }
    }
    r.insert(lib.name.clone(), lib);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// What FUNCTION RESTORE does with the libraries already loaded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Flush,
    Append,
    Replace,
}

/// FUNCTION RESTORE: adds `libs` all together or not at all.
pub fn restore_all(libs: Vec<Library>, policy: Policy) -> Result<(), String> {
    let mut r = REGISTRY
        .write()
        .map_err(|_| "ERR function registry unavailable".to_string())?;
    let mut next = if policy == Policy::Flush {
        BTreeMap::new()
    } else {
        r.clone()
    };
    for lib in libs {
        if policy == Policy::Append && next.contains_key(&lib.name) {
            return Err(format!("ERR Library {} already exists", lib.name));
        }
        for other in next.values().filter(|o| o.name != lib.name) {
            if let Some(f) = lib
                .functions
                .iter()
                .find(|f| other.functions.iter().any(|g| g.name == f.name))
            {
                return Err(format!("ERR Function {} already exists", f.name));
            }
        }
        next.insert(lib.name.clone(), lib);
    }
    *r = next;
    GENERATION.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// FUNCTION DELETE.
pub fn delete(name: &str) -> bool {
    let removed = REGISTRY.write().map(|mut r| r.remove(name).is_some()).unwrap_or(false);
    if removed {
        GENERATION.fetch_add(1, Ordering::AcqRel);
    }
    removed
}

/// FUNCTION FLUSH.
pub fn flush() {
    if let Ok(mut r) = REGISTRY.write() {
        r.clear();
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Counts for FUNCTION STATS and INFO: (libraries, functions).
pub fn counts() -> (usize, usize) {
    REGISTRY
        .read()
        .map(|r| (r.len(), r.values().map(|l| l.functions.len()).sum()))
        .unwrap_or((0, 0))
}

/// The library that holds function `name`, and that function.
pub fn find_function(name: &str) -> Option<(String, FunctionInfo)> {
    let r = REGISTRY.read().ok()?;
    r.values().find_map(|l| {
        l.functions
            .iter()
            .find(|f| f.name == name)
            .map(|f| (l.name.clone(), f.clone()))
    })
}

/// The library name in the code's first line (`#!lua name=<name>`), and the code with that
/// line blanked for the compiler (so line numbers stay those of the code given).
pub fn parse_shebang(code: &[u8]) -> Result<(String, Vec<u8>), String> {
    let Some(rest) = code.strip_prefix(b"#!") else {
        return Err("ERR Missing library metadata".into());
    };
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = String::from_utf8_lossy(&rest[..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let mut name = None;
    for p in parts {
        match p.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => return Err(format!("ERR Invalid metadata value given: {p}")),
        }
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(
            "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"
                .into(),
        );
    }
    let mut body = Vec::with_capacity(code.len());
    body.extend_from_slice(&code[2 + end..]);
    Ok((name, body))
}

/// Registers the libraries of a loaded RDB file (each replaces one of the same name).
pub fn restore(codes: &[Vec<u8>]) -> Result<(), String> {
    if codes.is_empty() {
        return Ok(());
    }
    let engine = super::engine::local()?;
    for code in codes {
        let lib = engine.load_library(code)?;
        add(lib, true)?;
    }
    Ok(())
}
