//! Landlock: a ruleset that handles every file-system and TCP access right the kernel knows
//! and grants none, plus the IPC scopes (abstract UNIX sockets, signals to processes outside
//! the sandbox). It is the second wall behind seccomp: should a file or socket call ever be
//! allowed by mistake, the kernel still refuses it.

use landlock::{
    Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetError, RulesetStatus, Scope, ABI,
};

use super::failed;
use crate::layer::LANDLOCK;
use crate::{ConfineError, LayerState};

/// The newest ABI whose rights we ask for; older kernels get what they support (the crate's
/// best-effort mode).
const WANTED_ABI: ABI = ABI::V6;

pub(super) fn deny_all() -> Result<LayerState, ConfineError> {
    let status = restrict().map_err(|e| failed(LANDLOCK, e))?;
    Ok(match status {
        RulesetStatus::FullyEnforced => LayerState::Active,
        // Some rights (e.g. TCP on a kernel before 6.7) are not enforced, but all that the
        // kernel offers are: that is the layer "active" on this machine.
        RulesetStatus::PartiallyEnforced => LayerState::Active,
        RulesetStatus::NotEnforced => {
            LayerState::Unavailable("the kernel does not enforce Landlock".into())
        }
    })
}

fn restrict() -> Result<RulesetStatus, RulesetError> {
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(WANTED_ABI))?
        .handle_access(AccessNet::from_all(WANTED_ABI))?
        .scope(Scope::from_all(WANTED_ABI))?
        .create()?
        .restrict_self()?;
    Ok(status.ruleset)
}
