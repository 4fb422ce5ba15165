//! Least privilege: after the capture handles, sockets and the metrics
//! listener are open, the agent switches to the configured user, clears
//! every capability it no longer needs and sets no-new-privileges, as
//! `tcpdump -Z` and Suricata's `run-as` do.
//!
//! Capabilities on Linux are per thread, so this must run while the process
//! has a single thread: before any capture thread, before tokio's blocking
//! pool starts (the agent runs a current-thread runtime, which starts no
//! thread of its own).
//!
//! The one capability that may stay is `CAP_NET_RAW`, and only with
//! `reload_interfaces = true`: it is what libpcap needs to open an
//! interface that a reload adds. Without it an open handle keeps working
//! (the kernel checked the permission when the socket was made), so the
//! default keeps nothing.

use anyhow::{bail, Context};
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid, User};

/// What the process ended up as, for the start-up log line.
#[derive(Debug)]
pub(crate) struct Dropped {
    /// The user name (or uid) now in force.
    pub(crate) user: String,
    /// The capabilities still effective.
    pub(crate) kept: Vec<String>,
}

/// Switches to `user` (when given and different from the current user),
/// clears all capabilities but `CAP_NET_RAW` when `keep_net_raw`, and sets
/// no-new-privileges. Errors name the user and the step that failed.
pub(crate) fn drop_privileges(user: Option<&str>, keep_net_raw: bool) -> anyhow::Result<Dropped> {
    let mut keep = CapsHashSet::new();
    if keep_net_raw {
        keep.insert(Capability::CAP_NET_RAW);
    }
    // The bounding set limits what any later exec could regain; dropping
    // from it needs CAP_SETPCAP, which a non-root start may not have: then
    // no-new-privileges (at the end) does that job.
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        for cap in caps::all() {
            if !keep.contains(&cap) {
                let _ = caps::drop(None, CapSet::Bounding, cap);
            }
        }
    }
    if let Some(name) = user {
        let target = User::from_name(name)
            .with_context(|| format!("user = {name:?}: cannot look the user up"))?
            .with_context(|| {
                format!("user = {name:?}: no such user; create it (useradd --system {name}) or change the key")
            })?;
        let me = Uid::current();
        if target.uid != me || Uid::effective() != me {
            if !Uid::effective().is_root() {
                bail!(
                    "user = {name:?}: cannot switch to it from uid {} (only root can); start as root or as {name}",
                    Uid::effective()
                );
            }
            switch_user(&target, &keep).with_context(|| format!("user = {name:?}"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).context("cannot clear the ambient capabilities")?;
    caps::clear(None, CapSet::Inheritable).context("cannot clear the inheritable capabilities")?;
    let permitted = caps::read(None, CapSet::Permitted).context("cannot read capabilities")?;
    let keep: CapsHashSet = keep.intersection(&permitted).copied().collect();
    caps::set(None, CapSet::Effective, &keep).context("cannot set the effective capabilities")?;
    caps::set(None, CapSet::Permitted, &keep).context("cannot set the permitted capabilities")?;
    nix::sys::prctl::set_no_new_privs().context("cannot set no-new-privileges")?;
    let mut kept: Vec<String> = keep.iter().map(|c| c.to_string()).collect();
    kept.sort();
    let user = User::from_uid(Uid::current())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| Uid::current().to_string());
    Ok(Dropped { user, kept })
}

/// setgroups, setgid, setuid, keeping `keep` across the switch.
fn switch_user(target: &User, keep: &CapsHashSet) -> anyhow::Result<()> {
    // Without keep-caps, setuid from root to another user empties the
    // permitted set; with it, the permitted set survives and the effective
    // set is raised again below.
    nix::sys::prctl::set_keepcaps(!keep.is_empty()).context("cannot set keep-caps")?;
    let gid: Gid = target.gid;
    nix::unistd::setgroups(&[gid]).context("cannot set the supplementary groups")?;
    nix::unistd::setresgid(gid, gid, gid).context("cannot set the group id")?;
    nix::unistd::setresuid(target.uid, target.uid, target.uid).context("cannot set the user id")?;
    if Uid::effective().is_root() || nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        bail!("still able to become root after switching users");
    }
    nix::sys::prctl::set_keepcaps(false).context("cannot clear keep-caps")?;
    if !keep.is_empty() {
        caps::set(None, CapSet::Effective, keep)
            .context("cannot raise the kept capabilities again")?;
    }
    Ok(())
}
