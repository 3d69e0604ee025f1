//! What only the embedded store needs to read rows: rusqlite rows read by column name through
//! a statement's [`ColumnIndex`] (the direct transactions of `direct.rs`), and statements over
//! a set of ids bound as one JSON array. The mapping itself is [`crate::rows`], shared with
//! the other backend.

use std::collections::HashMap;

use crate::rows::{send_out_columns, target_joins, target_state, with_bodies, Columns, Value};
use crate::StoreResult;

/// Send outs with whether their target (webhook or distribution) still exists and is active;
/// `?1` is a JSON array of send-out ids.
pub(super) const CLAIMS_BY_IDS: &str = concat!(
    "SELECT ",
    send_out_columns!(),
    ", ",
    target_state!(),
    " FROM ",
    with_bodies!(),
    " ",
    target_joins!(),
    " WHERE s.id IN (SELECT value FROM json_each(?1)) ORDER BY s.next_attempt_at, s.id"
);

/// A statement's column positions by name, looked up once per statement: rusqlite finds a
/// column by name by comparing it with every column's name, which for the two dozen
/// columns of a claim was about a twentieth of the engine's CPU while draining.
#[derive(Debug)]
pub(super) struct ColumnIndex(HashMap<String, usize>);

impl ColumnIndex {
    pub(super) fn of(statement: &rusqlite::Statement<'_>) -> Self {
        Self(
            statement
                .column_names()
                .into_iter()
                .enumerate()
                .map(|(i, name)| (name.to_owned(), i))
                .collect(),
        )
    }

    /// `row` (of this index's statement), read by column name through the index.
    pub(super) fn row<'a>(&'a self, row: &'a rusqlite::Row<'a>) -> Indexed<'a> {
        Indexed { index: self, row }
    }
}

/// A rusqlite row read through its statement's [`ColumnIndex`].
pub(super) struct Indexed<'a> {
    index: &'a ColumnIndex,
    row: &'a rusqlite::Row<'a>,
}

impl Columns for Indexed<'_> {
    fn get<T: Value>(&self, name: &str) -> StoreResult<T> {
        match self.index.0.get(name) {
            Some(&i) => Ok(self.row.get(i)?),
            None => Ok(rusqlite::Row::get(self.row, name)?),
        }
    }
}

/// A JSON array of ids, bound as one parameter and read with `json_each`, so a statement
/// over a set of ids stays one cached statement whatever the set's size.
pub(super) fn id_list<'a>(ids: impl IntoIterator<Item = &'a str>) -> StoreResult<String> {
    crate::rows::to_json(&ids.into_iter().collect::<Vec<_>>())
}
