//! The scripts' `cmsgpack` library (pack, unpack, unpack_one, unpack_limit), packing as
//! redis-server's cmsgpack packs: integers in their smallest form (unsigned forms for
//! positive ones), a fraction as float32 when that holds it exactly, a table as an array when
//! its keys are 1..n (an empty one too) and as a map otherwise, nil past 16 levels of nesting.
//! The encoding and decoding themselves are the `rmp` and `rmpv` crates'.

use mlua::{Lua, MultiValue, Table, Value};

/// Tables nested deeper than this pack as nil, as in cmsgpack.
const MAX_NESTING: usize = 16;

/// Adds the library's functions to `helpers`, each returning (error text) or (nil, values...)
/// for the prelude to raise or pass on.
pub fn add_cmsgpack(lua: &Lua, helpers: &Table) -> mlua::Result<()> {
    helpers.set(
        "cmsgpack_pack",
        lua.create_function(|lua, values: MultiValue| {
            if values.is_empty() {
                return (
                    Some("bad argument #0 to 'pack' (MessagePack pack needs input.)"),
                    Value::Nil,
                )
                    .into_lua_multi(lua);
            }
            let mut out = Vec::new();
            for v in &values {
                pack(v, &mut out, 0);
            }
            (None::<&str>, Value::String(lua.create_string(&out)?)).into_lua_multi(lua)
        })?,
    )?;
    // (data, limit, offset): with a limit, the offset of the next value (-1 at the end)
    // comes first. Returns (error text) or (nil, values as a table, their count).
    helpers.set(
        "cmsgpack_unpack",
        lua.create_function(
            |lua, (data, limit, offset): (mlua::LuaString, Option<i64>, Option<i64>)| {
                let bytes = data.as_bytes();
                let start = usize::try_from(offset.unwrap_or(0)).unwrap_or(usize::MAX);
                let mut rest = bytes.get(start..).unwrap_or_default();
                let out = lua.create_table()?;
                let mut n = 0;
                if limit.is_some() {
                    n += 1; // the offset's slot, filled below
                }
                let wanted = limit.filter(|&l| l > 0).map(|l| l as usize);
                let mut read = 0;
                while !rest.is_empty() && wanted.is_none_or(|l| read < l) {
                    match rmpv::decode::read_value(&mut rest) {
                        Ok(v) => {
                            n += 1;
                            read += 1;
                            out.raw_seti(n, to_lua(lua, &v)?)?;
                        }
                        Err(_) => return (Some("Bad data format in input."), Value::Nil, 0).into_lua_multi(lua),
                    }
                }
                if limit.is_some() {
                    let next = if rest.is_empty() {
                        -1
                    } else {
                        (bytes.len() - rest.len()) as i64
                    };
                    out.raw_seti(1, next)?;
                }
                (None::<&str>, Value::Table(out), n).into_lua_multi(lua)
            },
        )?,
    )?;
    Ok(())
}

use mlua::IntoLuaMulti;

fn pack(v: &Value, out: &mut Vec<u8>, depth: usize) {
    // Writing to a Vec cannot fail.
    match v {
        Value::Boolean(b) => {
            let _ = rmp::encode::write_bool(out, *b);
        }
        Value::Integer(i) => pack_int(*i, out),
        Value::Number(n) => pack_number(*n, out),
        Value::String(s) => {
            let bytes = s.as_bytes();
            let _ = rmp::encode::write_str_len(out, bytes.len() as u32);
            out.extend_from_slice(&bytes);
        }
        Value::Table(t) if depth < MAX_NESTING => pack_table(t, out, depth),
        _ => {
            let _ = rmp::encode::write_nil(out);
        }
    }
}

fn pack_int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        let _ = rmp::encode::write_uint(out, i as u64);
    } else {
        let _ = rmp::encode::write_sint(out, i);
    }
}

fn pack_number(n: f64, out: &mut Vec<u8>) {
    if n.fract() == 0.0 && (-9.2e18..=9.2e18).contains(&n) {
        pack_int(n as i64, out);
    } else if f64::from(n as f32) == n {
        let _ = rmp::encode::write_f32(out, n as f32);
    } else {
        let _ = rmp::encode::write_f64(out, n);
    }
}

fn pack_table(t: &Table, out: &mut Vec<u8>, depth: usize) {
    let pairs: Vec<(Value, Value)> = t.pairs::<Value, Value>().filter_map(Result::ok).collect();
    let index = |k: &Value| match k {
        Value::Integer(i) if *i > 0 => Some(*i as usize),
        Value::Number(n) if *n > 0.0 && n.fract() == 0.0 => Some(*n as usize),
        _ => None,
    };
    let max = pairs.iter().try_fold(0usize, |m, (k, _)| index(k).map(|i| m.max(i)));
    if max == Some(pairs.len()) {
        let _ = rmp::encode::write_array_len(out, pairs.len() as u32);
        for i in 1..=pairs.len() {
            pack(&t.raw_get::<Value>(i).unwrap_or(Value::Nil), out, depth + 1);
        }
    } else {
        let _ = rmp::encode::write_map_len(out, pairs.len() as u32);
        for (k, v) in &pairs {
            pack(k, out, depth + 1);
            pack(v, out, depth + 1);
        }
    }
}

fn to_lua(lua: &Lua, v: &rmpv::Value) -> mlua::Result<Value> {
    use rmpv::Value as M;
    Ok(match v {
        M::Nil => Value::Nil,
        M::Boolean(b) => Value::Boolean(*b),
        M::Integer(i) => Value::Number(i.as_f64().unwrap_or(0.0)),
        M::F32(f) => Value::Number(f64::from(*f)),
        M::F64(f) => Value::Number(*f),
        M::String(s) => Value::String(lua.create_string(s.as_bytes())?),
        M::Binary(b) => Value::String(lua.create_string(b)?),
        M::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_seti(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        M::Map(pairs) => {
            let t = lua.create_table_with_capacity(0, pairs.len())?;
            for (k, v) in pairs {
                let key = to_lua(lua, k)?;
                if !key.is_nil() {
                    t.raw_set(key, to_lua(lua, v)?)?;
                }
            }
            Value::Table(t)
        }
        M::Ext(..) => Value::Nil,
    })
}
