//! The wire protocol: request parsing (RESP multibulk and inline) and reply encoding
//! (RESP2/RESP3). Knows nothing about sockets or commands.

pub mod arg;
pub mod argv;
pub mod encode;
pub mod inline;
pub mod parse;
pub mod scan;

pub use arg::Arg;
pub use encode::{Out, Proto};
pub use parse::{ParseLimits, ProtocolError, Request, RequestParser};
