//! `Math.random` and `performance` that begin with the job, not with the context.
//!
//! QuickJS seeds `Math.random` and starts `performance`'s clock when a context is made. A
//! context made ahead of its job (a fork server's template makes one that all its children
//! copy) would give every execution the same random numbers, and a clock that started long
//! before it, in another process. These replacements read the job's own state: a generator
//! seeded from the operating system when the job starts, and the job's start
//! (`Shared::started`).

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use rquickjs::object::Accessor;
use rquickjs::{Ctx, Function, Object};

use super::prelude::{bound, Binding};

/// One execution's `Math.random`: QuickJS's own generator (xorshift64*), seeded afresh.
pub(super) struct JobRandom(Cell<u64>);

impl JobRandom {
    pub(super) fn from_os() -> JobRandom {
        let mut seed = 0u64;
        // SAFETY: getrandom(2) writes at most 8 bytes into the u64.
        let filled = unsafe {
            libc::getrandom(
                (&mut seed as *mut u64).cast(),
                std::mem::size_of::<u64>(),
                0,
            )
        };
        if filled != std::mem::size_of::<u64>() as isize {
            // No entropy source: the clock's nanoseconds still differ between executions.
            seed = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
        }
        // The state must never be zero.
        JobRandom(Cell::new(seed.max(1)))
    }

    /// A number in [0, 1), as QuickJS makes one.
    pub(super) fn next(&self) -> f64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        f64::from_bits((0x3ff << 52) | (bits >> 12)) - 1.0
    }
}

/// The wall-clock time now, in milliseconds since the epoch: `performance.timeOrigin` when
/// the job starts, as on the web.
pub(super) fn wall_clock_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Replaces `Math.random` and the `performance` global with functions bound to the job.
pub(super) fn install<'js>(ctx: &Ctx<'js>, binding: &Binding<'js>) -> rquickjs::Result<()> {
    let b = binding.clone();
    let random = Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
        Ok::<_, rquickjs::Error>(bound(&ctx, &b)?.random.next())
    })?
    .with_name("random")?;
    let math: Object = ctx.globals().get("Math")?;
    math.set("random", random)?;

    let performance = Object::new(ctx.clone())?;
    let b = binding.clone();
    let now = Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
        Ok::<_, rquickjs::Error>(bound(&ctx, &b)?.started.elapsed().as_secs_f64() * 1e3)
    })?
    .with_name("now")?;
    performance.set("now", now)?;
    let b = binding.clone();
    performance.prop(
        "timeOrigin",
        Accessor::new_get(move |ctx: Ctx<'js>| {
            Ok::<_, rquickjs::Error>(bound(&ctx, &b)?.time_origin_ms)
        })
        .enumerable(),
    )?;
    ctx.globals().set("performance", performance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_in_the_unit_interval_and_seeds_differ() {
        let random = JobRandom::from_os();
        assert!((0..10_000)
            .map(|_| random.next())
            .all(|n| (0.0..1.0).contains(&n)));
        let (a, b) = (JobRandom::from_os(), JobRandom::from_os());
        assert_ne!(a.next(), b.next());
    }
}
