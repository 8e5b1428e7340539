//! The list family (to be written).

use super::CommandSpec;

pub const SPECS: &[CommandSpec] = &[];
