//! Values across the Lua boundary, by redis-server 7.0's conversion rules: a command's reply
//! into Lua for `redis.call` (RESP2 forms by default, RESP3 forms after `redis.setresp(3)`),
//! the script's return value into the client's reply, and the `cjson` library.

use mlua::{Lua, Table, Value};

use crate::resp::Out;

/// Nesting past this is refused, as redis-server refuses it when Lua's stack runs out (a
/// table that contains itself would otherwise never end).
const MAX_DEPTH: usize = 1000;

/// A reply to `redis.call`: `(true, value)`, or `(false, {err = text})` for an error reply.
pub fn reply_to_lua(lua: &Lua, reply: &[u8], resp3: bool) -> mlua::Result<(bool, Value)> {
    if let Some(text) = reply.strip_prefix(b"-") {
        let text = text.strip_suffix(b"\r\n").unwrap_or(text);
        return Ok((false, error_table(lua, text)?));
    }
    let mut pos = 0;
    let v = decode(lua, reply, &mut pos, resp3)?;
    Ok((true, v))
}

/// `{err = text}`.
pub fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(text)?)?;
    Ok(Value::Table(t))
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> mlua::Result<&'a [u8]> {
    let rest = buf.get(*pos..).unwrap_or_default();
    let end = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or_else(|| mlua::Error::runtime("truncated reply"))?;
    *pos += end + 2;
    Ok(&rest[..end])
}

fn count(text: &[u8]) -> mlua::Result<i64> {
    crate::util::num::parse_i64(text).ok_or_else(|| mlua::Error::runtime("bad reply length"))
}

fn decode(lua: &Lua, buf: &[u8], pos: &mut usize, resp3: bool) -> mlua::Result<Value> {
    let kind = *buf.get(*pos).ok_or_else(|| mlua::Error::runtime("empty reply"))?;
    *pos += 1;
    let head = line(buf, pos)?;
    let single = |key: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(key, v)?;
        Ok(Value::Table(t))
    };
    Ok(match kind {
        b'+' => single("ok", Value::String(lua.create_string(head)?))?,
        b'-' => error_table(lua, head)?,
        b':' => Value::Number(count(head)? as f64),
        b'$' | b'=' => {
            let n = count(head)?;
            if n < 0 {
                return Ok(if resp3 { Value::Nil } else { Value::Boolean(false) });
            }
            let end = *pos + n as usize;
            let body = buf
                .get(*pos..end)
                .ok_or_else(|| mlua::Error::runtime("truncated reply"))?;
            *pos = end + 2;
            if kind == b'=' && resp3 {
                let (format, text) = body.split_at(body.len().min(4));
                let t = lua.create_table()?;
                t.raw_set("format", lua.create_string(&format[..format.len().min(3)])?)?;
                t.raw_set("string", lua.create_string(text)?)?;
                single("verbatim_string", Value::Table(t))?
            } else {
                Value::String(lua.create_string(body)?)
            }
        }
        b'*' | b'>' => {
            let n = count(head)?;
            if n < 0 {
                return Ok(if resp3 { Value::Nil } else { Value::Boolean(false) });
            }
            let t = lua.create_table_with_capacity(n as usize, 0)?;
            for i in 0..n as usize {
                t.raw_seti(i + 1, decode(lua, buf, pos, resp3)?)?;
            }
            Value::Table(t)
        }
        b'%' | b'~' => {
            let n = count(head)?;
            let inner = lua.create_table()?;
            for _ in 0..n {
                let k = decode(lua, buf, pos, resp3)?;
                let v = if kind == b'%' {
                    decode(lua, buf, pos, resp3)?
                } else {
                    Value::Boolean(true)
                };
                inner.raw_set(k, v)?;
            }
            single(if kind == b'%' { "map" } else { "set" }, Value::Table(inner))?
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(head == b"t"),
        b',' => {
            let d = crate::util::num::parse_f64(head).unwrap_or(0.0);
            single("double", Value::Number(d))?
        }
        b'(' => single("big_number", Value::String(lua.create_string(head)?))?,
        _ => return Err(mlua::Error::runtime("unknown reply type")),
    })
}

/// Writes the script's return value `v` as the client's reply. `script_resp3` is the
/// script's `redis.setresp` choice, which decides how booleans are sent.
pub fn write_reply(v: &Value, out: &mut Out, script_resp3: bool) {
    write_value(v, out, script_resp3, 0);
}

fn write_value(v: &Value, out: &mut Out, script_resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(truncate(*n)),
        Value::Boolean(true) if script_resp3 => out.boolean(true),
        Value::Boolean(true) => out.int(1),
        Value::Boolean(false) if script_resp3 => out.boolean(false),
        Value::Table(t) => write_table(t, out, script_resp3, depth),
        _ => out.null(),
    }
}

/// A Lua number as a C cast to long long does on x86-64: out of range (or NaN) gives the
/// smallest integer.
fn truncate(n: f64) -> i64 {
    if n.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn field(t: &Table, name: &str) -> Value {
    t.raw_get(name).unwrap_or(Value::Nil)
}

fn write_table(t: &Table, out: &mut Out, script_resp3: bool, depth: usize) {
    if let Value::String(e) = field(t, "err") {
        let text = String::from_utf8_lossy(&e.as_bytes()).replace(['\r', '\n'], " ");
        out.error(&text);
        return;
    }
    if let Value::String(s) = field(t, "ok") {
        let text: Vec<u8> = s
            .as_bytes()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        out.simple(&text);
        return;
    }
    if let Some(d) = super::engine::number(&field(t, "double")) {
        let mut text = Vec::new();
        crate::util::num::format_double(d, &mut text);
        out.double_text(&text);
        return;
    }
    if let Value::String(s) = field(t, "big_number") {
        out.bulk(&s.as_bytes());
        return;
    }
    if let Value::Table(m) = field(t, "map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            write_value(k, out, script_resp3, depth + 1);
            write_value(v, out, script_resp3, depth + 1);
        }
        return;
    }
    if let Value::Table(s) = field(t, "set") {
        let members: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok().map(|(k, _)| k))
            .collect();
        out.set(members.len());
        for m in &members {
            write_value(m, out, script_resp3, depth + 1);
        }
        return;
    }
    let mut items = Vec::new();
    while let Ok(v) = t.raw_get::<Value>(items.len() + 1) {
        if v.is_nil() {
            break;
        }
        items.push(v);
    }
    out.array(items.len());
    for v in &items {
        write_value(v, out, script_resp3, depth + 1);
    }
}

/// The `cjson` library's functions, each returning (error text) or (nil, value); the
/// prelude raises the text with the caller's position.
pub fn add_cjson(lua: &Lua, helpers: &Table) -> mlua::Result<()> {
    helpers.set(
        "cjson_encode",
        lua.create_function(|lua, v: Value| {
            Ok(
                match to_json(&v, 0).and_then(|j| serde_json::to_string(&j).map_err(|e| e.to_string())) {
                    Ok(text) => (None, Value::String(lua.create_string(text)?)),
                    Err(e) => (Some(e), Value::Nil),
                },
            )
        })?,
    )?;
    helpers.set(
        "cjson_decode",
        lua.create_function(|lua, text: mlua::LuaString| {
            Ok(match serde_json::from_slice::<serde_json::Value>(&text.as_bytes()) {
                Ok(json) => (None, from_json(lua, &json)?),
                Err(e) => (
                    Some(format!("Expected value but found invalid token ({e})")),
                    Value::Nil,
                ),
            })
        })?,
    )?;
    helpers.set("cjson_null", super::engine::json_null())?;
    Ok(())
}

fn to_json(v: &Value, depth: usize) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err("Cannot serialise, excessive nesting (1001)".into());
    }
    Ok(match v {
        Value::Nil => J::Null,
        Value::LightUserData(p) if p.0.is_null() => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Integer(i) => J::from(*i),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => J::from(*n as i64),
        Value::Number(n) => serde_json::Number::from_f64(*n)
            .map(J::Number)
            .ok_or("Cannot serialise number: must not be NaN or Inf")?,
        Value::String(s) => J::String(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        Value::Table(t) => {
            let len = t.raw_len();
            let pairs: Vec<(Value, Value)> = t.pairs::<Value, Value>().filter_map(Result::ok).collect();
            if len > 0 && pairs.len() == len {
                let mut items = Vec::with_capacity(len);
                for i in 1..=len {
                    items.push(to_json(&t.raw_get::<Value>(i).unwrap_or(Value::Nil), depth + 1)?);
                }
                J::Array(items)
            } else {
                let mut map = serde_json::Map::new();
                for (k, v) in &pairs {
                    let key = match k {
                        Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                        Value::Integer(i) => i.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => return Err("Cannot serialise table: table key must be a number or string".into()),
                    };
                    map.insert(key, to_json(v, depth + 1)?);
                }
                J::Object(map)
            }
        }
        Value::Function(_) => return Err("Cannot serialise function: type not supported".into()),
        _ => return Err("Cannot serialise userdata: type not supported".into()),
    })
}

fn from_json(lua: &Lua, j: &serde_json::Value) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match j {
        J::Null => super::engine::json_null(),
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_seti(i + 1, from_json(lua, item)?)?;
            }
            Value::Table(t)
        }
        J::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(k.as_str(), from_json(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}
