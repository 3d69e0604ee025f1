//! Sharing one claim between projects, so that one project's backlog never starves another's
//! due send outs (both backends).
//!
//! The due index alone orders by due time: a project with 500,000 send outs due since an hour
//! would be claimed before anything another project made since, whatever the worker's
//! per-project bounds. So a claim first lists the projects with open send outs
//! ([`ACTIVE_PROJECTS`], a loose scan of the `send_outs_due_by_project` index: one seek per
//! project, not a scan of the backlog), at most [`MAX_PROJECTS_PER_CLAIM`] of them starting
//! after where the last claim stopped ([`Cursor`]), and then shares its `limit` between them
//! ([`Shares`]): each round gives every project still asking an equal part, oldest due first
//! within each, and what a project with less due leaves over goes to the others in the next
//! round. With one project with due work this is the plain oldest-first claim.
//!
//! Pure bookkeeping: the backends run the statements.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The most projects one claim looks at; the next claim goes on after the last of them.
/// Each costs one index seek to find and one to read, so a claim stays cheap with thousands
/// of projects, and every project with due work is served within
/// `active projects / MAX_PROJECTS_PER_CLAIM` claims.
pub const MAX_PROJECTS_PER_CLAIM: usize = 64;

/// The projects with open send outs (due or not) after `$1`, in id order, at most `$2`: a
/// recursive loose scan of `send_outs_due_by_project`, one seek per project. Reads the same
/// in both dialects.
pub(crate) const ACTIVE_PROJECTS: &str = "\
    WITH RECURSIVE p(project_id, n) AS (\
        SELECT (SELECT project_id FROM send_outs WHERE next_attempt_at IS NOT NULL \
                AND project_id > $1 ORDER BY project_id LIMIT 1), 1 \
        UNION ALL \
        SELECT (SELECT s.project_id FROM send_outs s WHERE s.next_attempt_at IS NOT NULL \
                AND s.project_id > p.project_id ORDER BY s.project_id LIMIT 1), p.n + 1 \
        FROM p WHERE p.project_id IS NOT NULL AND p.n < $2) \
    SELECT project_id FROM p WHERE project_id IS NOT NULL";

/// Where the next claim starts its list of projects: shared by a store's clones, one per
/// process (each node of a shared database keeps its own; they need not agree).
#[derive(Debug, Clone, Default)]
pub(crate) struct Cursor(Arc<Mutex<String>>);

impl Cursor {
    /// The project id after which the next list starts (`""`: from the first).
    pub(crate) fn after(&self) -> String {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Records the list a claim used: `listed` after `after`, then (if that reached the end
    /// of the projects) `wrapped` from the first. The next claim starts after the first
    /// project served this time when every project was listed (so the order rotates), and
    /// after the last listed otherwise.
    pub(crate) fn advance(&self, listed: &[String], all_listed: bool) {
        let next = if all_listed {
            listed.first()
        } else {
            listed.last()
        };
        if let (Some(next), Ok(mut cursor)) = (next, self.0.lock()) {
            next.clone_into(&mut cursor);
        }
    }
}

/// Whether a claim must scan again from the first project: the scan after the cursor
/// (`after`) found fewer than [`MAX_PROJECTS_PER_CLAIM`] (`from_cursor`).
pub(crate) fn wraps(after: &str, from_cursor: &[String]) -> bool {
    from_cursor.len() < MAX_PROJECTS_PER_CLAIM && !after.is_empty()
}

/// The projects of a claim, in order: those found after the cursor, then from the first up
/// to the cursor, without duplicates or projects the caller asked to skip; moves the cursor
/// on. `from_cursor` and `from_start` are the two scans' results ([`ACTIVE_PROJECTS`] after
/// the cursor, and from `""` if [`wraps`]).
pub(crate) fn claim_order(
    cursor: &Cursor,
    from_cursor: Vec<String>,
    from_start: Vec<String>,
    skip: &HashSet<String>,
) -> Vec<String> {
    let listed = from_cursor.len() + from_start.len();
    let mut seen = HashSet::new();
    let projects: Vec<String> = from_cursor
        .into_iter()
        .chain(from_start)
        .filter(|p| !skip.contains(p) && seen.insert(p.clone()))
        .take(MAX_PROJECTS_PER_CLAIM)
        .collect();
    cursor.advance(&projects, listed < MAX_PROJECTS_PER_CLAIM);
    projects
}

/// One project's part of a round: read `count` of its due send outs after the first `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ask {
    pub project: usize,
    pub count: usize,
    pub offset: usize,
}

/// A claim's `limit` shared between projects in rounds (see the module docs).
#[derive(Debug)]
pub(crate) struct Shares {
    /// Per project: how many it gave so far, and whether it may have more.
    taken: Vec<(usize, bool)>,
    left: usize,
}

impl Shares {
    pub(crate) fn new(projects: usize, limit: usize) -> Self {
        Self {
            taken: vec![(0, true); projects],
            left: limit,
        }
    }

    /// The next round's asks; `None` when the claim is full or no project has more.
    pub(crate) fn next_round(&self) -> Option<Vec<Ask>> {
        let asks = self.round();
        (!asks.is_empty()).then_some(asks)
    }

    fn round(&self) -> Vec<Ask> {
        let mut asking: Vec<usize> = (0..self.taken.len()).filter(|&i| self.taken[i].1).collect();
        // When the room left is less than one each, those that got least so far come first.
        asking.sort_by_key(|&i| self.taken[i].0);
        if self.left == 0 || asking.is_empty() {
            return Vec::new();
        }
        let (each, extra) = (self.left / asking.len(), self.left % asking.len());
        asking
            .into_iter()
            .enumerate()
            .map(|(n, project)| Ask {
                project,
                count: each + usize::from(n < extra),
                offset: self.taken[project].0,
            })
            .filter(|ask| ask.count > 0)
            .collect()
    }

    /// Records that `ask` gave `got` send outs: fewer than asked means that project has no
    /// more due.
    pub(crate) fn got(&mut self, ask: &Ask, got: usize) {
        let (taken, more) = &mut self.taken[ask.project];
        *taken += got;
        *more = got >= ask.count;
        self.left = self.left.saturating_sub(got);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the rounds against projects with `due` send outs each; returns what each gave.
    fn share(due: &[usize], limit: usize) -> Vec<usize> {
        let mut shares = Shares::new(due.len(), limit);
        let mut rounds = 0;
        while let Some(asks) = shares.next_round() {
            rounds += 1;
            assert!(rounds <= due.len() + 1, "the rounds must end");
            for ask in asks {
                let got = ask.count.min(due[ask.project] - ask.offset);
                shares.got(&ask, got);
            }
        }
        shares.taken.iter().map(|t| t.0).collect()
    }

    #[test]
    fn one_project_takes_the_whole_claim() {
        assert_eq!(share(&[500_000], 256), vec![256]);
        assert_eq!(share(&[3], 256), vec![3]);
    }

    #[test]
    fn a_backlog_leaves_an_equal_part_to_every_other_project() {
        assert_eq!(share(&[500_000, 500_000], 256), vec![128, 128]);
        // What a project with little due leaves over goes to the one with a backlog.
        assert_eq!(share(&[500_000, 1], 256), vec![255, 1]);
        assert_eq!(share(&[500_000, 10, 200], 256), vec![123, 10, 123]);
    }

    #[test]
    fn a_claim_smaller_than_the_projects_serves_the_first_ones() {
        assert_eq!(share(&[9, 9, 9], 2), vec![1, 1, 0]);
        assert_eq!(share(&[0, 9, 9], 2), vec![0, 1, 1]);
    }

    #[test]
    fn the_order_skips_and_dedups_and_the_cursor_rotates() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let skip = HashSet::from(["b".to_owned()]);
        let cursor = Cursor::default();
        assert_eq!(cursor.after(), "");
        let order = claim_order(&cursor, names(&["c", "d"]), names(&["a", "b", "c"]), &skip);
        assert_eq!(order, names(&["c", "d", "a"]));
        assert_eq!(
            cursor.after(),
            "c",
            "every project was listed: the next starts after c"
        );
        assert!(wraps("c", &names(&["d"])));
        assert!(!wraps("", &names(&["a"])));
        cursor.advance(&order, false);
        assert_eq!(cursor.after(), "a");
    }
}
