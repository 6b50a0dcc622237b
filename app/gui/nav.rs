//! Arrow-key moves through the thumbnail grid: Left/Right go to the previous/next
//! painting, Up/Down to the one in the row above/below (same column).

/// An arrow key's move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// The previous painting.
    Prev,
    /// The next painting.
    Next,
    /// The painting in the row above.
    Up,
    /// The painting in the row below.
    Down,
}

/// The position after `m` from `pos` (`None`: nothing selected yet) among `len` paintings
/// laid out `cols` to a row. Down from the row above a shorter last row lands on the last
/// painting; moves past an edge stay put.
pub fn step(pos: Option<usize>, len: usize, cols: usize, m: Move) -> Option<usize> {
    if len == 0 {
        return None;
    }
    let Some(p) = pos else { return Some(0) };
    let cols = cols.max(1);
    let last = len - 1;
    Some(match m {
        Move::Prev => p.saturating_sub(1),
        Move::Next => (p + 1).min(last),
        Move::Up => p.checked_sub(cols).unwrap_or(p),
        Move::Down if p / cols < last / cols => (p + cols).min(last),
        Move::Down => p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_and_down_move_by_a_row_left_and_right_by_one() {
        // 10 paintings, 4 a row: 0 1 2 3 / 4 5 6 7 / 8 9
        assert_eq!(step(Some(1), 10, 4, Move::Down), Some(5));
        assert_eq!(step(Some(5), 10, 4, Move::Up), Some(1));
        assert_eq!(step(Some(1), 10, 4, Move::Up), Some(1));
        assert_eq!(step(Some(6), 10, 4, Move::Down), Some(9));
        assert_eq!(step(Some(9), 10, 4, Move::Down), Some(9));
        assert_eq!(step(Some(5), 10, 4, Move::Next), Some(6));
        assert_eq!(step(Some(5), 10, 4, Move::Prev), Some(4));
        assert_eq!(step(Some(0), 10, 4, Move::Prev), Some(0));
        assert_eq!(step(Some(9), 10, 4, Move::Next), Some(9));
        assert_eq!(step(None, 10, 4, Move::Down), Some(0));
        assert_eq!(step(Some(0), 0, 4, Move::Down), None);
        // One column: Up/Down are previous/next.
        assert_eq!(step(Some(2), 10, 1, Move::Down), Some(3));
    }
}
