//! Penn-Treebank tokenisation as pycocoevalcap does it (`PTBTokenizer` with
//! `-preserveLines -lowerCase`, then removal of punctuation tokens).
//!
//! This module was written clean-room from `docs/ptb-tokenizer.md`, a behavioural
//! specification derived from pycocoevalcap's documented Python wrapper and from black-box
//! runs of `stanford-corenlp-3.4.1.jar` on probe inputs. No CoreNLP source was consulted.
//!
//! The tokenizer is a hand-written, single-pass, maximal-munch scanner over the characters of
//! all captions joined by `'\n'` (lookahead may cross caption boundaries, as in the jar); every
//! rule looks at a bounded window or scans forward once, so the whole pass is linear-time.

use crate::error::{Error, Result};

/// The tokens pycocoevalcap drops after tokenising (compared after lower-casing, so the
/// bracket tokens, which come out as `-lrb-` etc., are never actually dropped).
pub const PUNCTUATIONS: [&str; 17] = [
    "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--",
    "...", ";",
];

/// pycocoevalcap PTBTokenizer.tokenize: one string per caption, tokens lower-cased, joined by single spaces, punctuation tokens removed.
pub fn coco_tokenize<S: AsRef<str>>(captions: &[S]) -> Result<Vec<String>> {
    let lines = ptb_tokenize_lines(captions)?;
    Ok(lines
        .into_iter()
        .map(|toks| {
            toks.into_iter()
                .filter(|t| !PUNCTUATIONS.contains(&t.as_str()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect())
}

/// The jar's `-preserveLines -lowerCase` tokens per caption (before punctuation removal), one Vec per caption, aligned with the input.
pub fn ptb_tokenize_lines<S: AsRef<str>>(captions: &[S]) -> Result<Vec<Vec<String>>> {
    let mut text: Vec<char> = Vec::new();
    for (k, cap) in captions.iter().enumerate() {
        if k > 0 {
            text.push('\n');
        }
        for ch in cap.as_ref().chars() {
            if let Some(c) = normalize_char(ch) {
                text.push(c);
            }
        }
    }
    let mut out: Vec<Vec<String>> = vec![Vec::new(); captions.len()];
    let mut lx = Lexer {
        t: &text,
        i: 0,
        line: 0,
        out: &mut out,
    };
    lx.run()?;
    Ok(out)
}

/// Python's `str.split()` with no argument (splits on Unicode whitespace as Python defines it, drops empties).
pub fn python_split(s: &str) -> Vec<&str> {
    s.split(is_python_space).filter(|w| !w.is_empty()).collect()
}

fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Pre-scan mapping of one input character: `None` deletes it without a token boundary.
fn normalize_char(ch: char) -> Option<char> {
    match ch {
        '\u{ad}' => None,
        '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{2028}' | '\u{2029}' => Some(' '),
        '\u{85}' => Some('\u{2026}'),
        c if is_untokenisable(c) => Some(' '),
        c if c != '\u{a0}' && (c.is_whitespace() || c == '\u{200b}') => Some(' '),
        c => Some(c),
    }
}

fn is_untokenisable(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{feff}' | '\u{fffd}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{2012}' | '\u{fe00}'
                ..='\u{fe0f}'
        )
        || (c as u32) > 0xFFFF
}

/// ASCII apostrophe or the typographic right single quote (the jar keeps the latter as is inside
/// most tokens and normalises it to `'` only in clitics and stand-alone quote tokens).
fn is_apos(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

fn norm_apos(s: &str) -> String {
    s.replace('\u{2019}', "'")
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\n' || c == '\u{a0}' || c.is_whitespace()
}

fn is_letter(c: char) -> bool {
    c.is_alphabetic() || is_mark(c)
}

fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x300..=0x36F | 0x483..=0x489 | 0x591..=0x5BD | 0x610..=0x61A | 0x64B..=0x65F | 0x900..=0x903 | 0x93A..=0x94F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

fn is_alnum(c: char) -> bool {
    is_letter(c) || (c.is_numeric() && !matches!(c as u32, 0xB2..=0xBE | 0x2070..=0x218F))
}

const FINAL_ABBREVS: &[&str] = &[
    "AL", "ALA", "ARK", "AUG", "AZ", "Al", "Ala", "Ark", "Aug", "Az", "BROS", "Bros", "CALIF",
    "CO", "CONN", "CORP", "COS", "CT", "Calif", "Co", "Conn", "Corp", "Cos", "Ct", "DEC", "DEL",
    "Dec", "Del", "EST", "ETC", "EXT", "Est", "Etc", "Ext", "FEB", "FLA", "Feb", "Fla", "GA", "Ga",
    "ILL", "INC", "Ill", "Inc", "JAN", "JR", "JUL", "JUN", "Jan", "Jr", "Jul", "Jun", "KY", "Ky",
    "LA", "LTD", "La", "Ltd", "MAR", "MASS", "MD", "MICH", "MINN", "MISS", "MO", "MON", "Mar",
    "Mass", "Md", "Mich", "Minn", "Miss", "Mo", "Mon", "NOV", "Nov", "OCT", "ORE", "Oct", "Ore",
    "PA", "PENN", "PLC", "Pa", "Penn", "Plc", "RD", "RT", "Rd", "Rt", "SEP", "SEPT", "SQ", "SR",
    "Sep", "Sept", "Sq", "Sr", "TEL", "TENN", "TEX", "Tel", "Tenn", "Tex", "VA", "VT", "Va", "Vt",
    "WASH", "WED", "WIS", "Wash", "Wed", "Wis", "al", "ala", "aug", "bros", "calif", "co", "conn",
    "corp", "cos", "ct", "dec", "est", "etc", "ext", "feb", "fla", "ga", "inc", "jan", "jr", "jul",
    "jun", "ky", "ltd", "mar", "md", "mich", "minn", "mo", "mon", "nov", "oct", "penn", "plc",
    "rd", "rt", "sep", "sept", "sq", "sr", "tel", "tenn", "va", "vt", "wed", "wis",
];

const OTHER_ABBREVS: &[&str] = &[
    "ALEX", "ASST", "AVE", "Alex", "Asst", "Ave", "BRIG", "Brig", "CAPT", "CF", "COL", "CPL",
    "Capt", "Cf", "Col", "Cpl", "DEPT", "DR", "DRS", "Dept", "Dr", "Drs", "FT", "Ft", "GEN", "GOV",
    "Gen", "Gov", "HON", "Hon", "JOS", "Jos", "LIEUT", "LT", "Lieut", "Lt", "MME", "MR", "MRS",
    "MS", "MT", "Mme", "Mr", "Mrs", "Ms", "Mt", "Mtg", "PH", "PRES", "PROF", "Ph", "Pres", "Prof",
    "REP", "REPS", "REV", "Rep", "Reps", "Rev", "SEN", "SENS", "ST", "Sen", "Sens", "St", "VS",
    "Vs", "WM", "Wm", "alex", "asst", "ave", "brig", "capt", "cf", "col", "cpl", "dept", "dr",
    "drs", "ft", "gen", "gov", "hon", "jos", "lieut", "lt", "mme", "mr", "mrs", "ms", "mt", "mtg",
    "ph", "pres", "prof", "rep", "reps", "rev", "sen", "sens", "st", "vs", "wm",
];

const STARTERS: &[&str] = &[
    "A",
    "About",
    "According",
    "After",
    "An",
    "As",
    "At",
    "But",
    "Earlier",
    "He",
    "Her",
    "Here",
    "However",
    "If",
    "In",
    "It",
    "Last",
    "Many",
    "More",
    "Now",
    "Once",
    "One",
    "Other",
    "Our",
    "She",
    "Since",
    "So",
    "Some",
    "Such",
    "That",
    "The",
    "Their",
    "Then",
    "There",
    "These",
    "They",
    "This",
    "We",
    "What",
    "When",
    "While",
    "Yet",
    "You",
];

struct Lexer<'a> {
    t: &'a [char],
    i: usize,
    line: usize,
    out: &'a mut Vec<Vec<String>>,
}

impl<'a> Lexer<'a> {
    fn at(&self, k: usize) -> Option<char> {
        self.t.get(k).copied()
    }

    fn emit(&mut self, tok: &str) -> Result<()> {
        let line = self.line;
        match self.out.get_mut(line) {
            Some(v) => {
                v.push(tok.to_lowercase());
                Ok(())
            }
            None => Err(Error::Tokenizer {
                name: "ptb".into(),
                message: format!("line {line} out of range"),
            }),
        }
    }

    fn emit_chars(&mut self, a: usize, b: usize) -> Result<()> {
        let s: String = self.t[a..b].iter().collect();
        self.emit(&s)
    }

    fn run(&mut self) -> Result<()> {
        while let Some(c) = self.at(self.i) {
            if c == '\n' {
                self.line += 1;
                self.i += 1;
                continue;
            }
            if is_space(c) {
                self.i += 1;
                continue;
            }
            self.token(c)?;
        }
        Ok(())
    }

    /// Is position `k` (just after a period) followed by whitespace and then a sentence starter?
    fn starter_follows(&self, k: usize) -> bool {
        let mut j = k;
        if !self.at(j).is_some_and(is_space) {
            return false;
        }
        while self.at(j).is_some_and(is_space) {
            j += 1;
        }
        let s = j;
        while self.at(j).is_some_and(|c| c.is_alphabetic()) {
            j += 1;
        }
        // a starter glued to a clitic is no starter: `the L. It's -> the l. it 's`
        if j == s || self.at(j).is_some_and(|c| is_alnum(c) || is_apos(c)) {
            return false;
        }
        let w: String = self.t[s..j].iter().collect();
        if STARTERS.contains(&w.as_str()) {
            return true;
        }
        matches!(w.as_str(), "Mr" | "Ms") && self.at(j) == Some('.')
    }

    /// Whitespace followed by an upper-case letter.
    fn upper_follows(&self, k: usize) -> bool {
        let mut j = k;
        if !self.at(j).is_some_and(is_space) {
            return false;
        }
        while self.at(j).is_some_and(is_space) {
            j += 1;
        }
        self.at(j).is_some_and(|c| c.is_uppercase())
    }

    fn starts_with_ci(&self, k: usize, pat: &str) -> bool {
        let mut j = k;
        for p in pat.chars() {
            match self.at(j) {
                Some(c) if c.to_ascii_lowercase() == p => j += 1,
                _ => return false,
            }
        }
        true
    }

    fn token(&mut self, c: char) -> Result<()> {
        let i = self.i;
        // URLs
        if self.starts_with_ci(i, "http://")
            || self.starts_with_ci(i, "https://")
            || self.starts_with_ci(i, "www.")
        {
            let mut j = i;
            while self
                .at(j)
                .is_some_and(|c| !is_space(c) && !matches!(c, '"' | '<' | '>'))
            {
                j += 1;
            }
            while j > i + 4
                && self.at(j - 1).is_some_and(|c| {
                    matches!(
                        c,
                        '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '\'' | '}'
                    )
                })
            {
                j -= 1;
            }
            // an unbalanced closing bracket ends the URL, a balanced one stays
            self.emit_chars(i, j)?;
            self.i = j;
            return Ok(());
        }
        if let Some(j) = self.email(i) {
            self.emit_chars(i, j)?;
            self.i = j;
            return Ok(());
        }
        match c {
            '\u{bd}' => return self.one("1/2"),
            '\u{bc}' => return self.one("1/4"),
            '\u{be}' => return self.one("3/4"),
            _ => {}
        }
        if let Some(j) = self.spaced_fraction(i) {
            let s: String = self.t[i..j]
                .iter()
                .map(|&ch| if ch == ' ' { '\u{a0}' } else { ch })
                .collect();
            self.emit(&s)?;
            self.i = j;
            return Ok(());
        }
        if is_alnum(c) {
            return self.word(i);
        }
        match c {
            '"' => {
                let q = if self
                    .at(i + 1)
                    .is_some_and(|d| d.is_ascii_alphanumeric() || d == '$')
                {
                    "``"
                } else {
                    "''"
                };
                self.emit(q)?;
                self.i += 1;
            }
            '\'' | '\u{2019}' => self.apostrophe(i)?,
            '`' => {
                if self.at(i + 1) == Some('`') {
                    self.emit("``")?;
                    self.i += 2;
                } else {
                    self.emit("`")?;
                    self.i += 1;
                }
            }
            '\u{201c}' | '\u{ab}' => self.one("``")?,
            '\u{201d}' | '\u{bb}' => self.one("''")?,
            '\u{2018}' => self.one("`")?,
            '\u{2026}' => self.one("...")?,
            '\u{2013}' | '\u{2014}' | '\u{2015}' => self.one("--")?,
            '\u{bd}' => self.one("1/2")?,
            '\u{bc}' => self.one("1/4")?,
            '\u{be}' => self.one("3/4")?,
            '\u{a3}' => self.one("#")?,
            '\u{20ac}' => self.one("$")?,
            '(' => self.one("-LRB-")?,
            ')' => self.one("-RRB-")?,
            '[' => self.one("-LSB-")?,
            ']' => self.one("-RSB-")?,
            '{' => self.one("-LCB-")?,
            '}' => self.one("-RCB-")?,
            '.' => {
                let mut j = i;
                while self.at(j) == Some('.') {
                    j += 1;
                }
                if j - i >= 3 {
                    // a run of dots is cut into tokens of at most five dots
                    self.emit("...")?;
                    self.i = i + (j - i).min(5);
                } else if self.at(i + 1) == Some(' ')
                    && self.at(i + 2) == Some('.')
                    && self.at(i + 3) == Some(' ')
                    && self.at(i + 4) == Some('.')
                {
                    self.emit("...")?;
                    self.i = i + 5;
                } else if self.at(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                    let j = self.number_end(i + 1);
                    self.emit_chars(i, j)?;
                    self.i = j;
                } else {
                    self.one(".")?;
                }
            }
            '-' => {
                let mut j = i;
                while self.at(j) == Some('-') {
                    j += 1;
                }
                let n = j - i;
                if n == 1 {
                    if self.at(j).is_some_and(|d| d.is_ascii_digit())
                        && !self.at(i.wrapping_sub(1)).is_some_and(is_letter)
                    {
                        let e = self.number_end(j);
                        self.emit_chars(i, e)?;
                        self.i = e;
                    } else if self.at(j) == Some('_') && self.at(j + 1) == Some('-') {
                        self.emit("-_-")?;
                        self.i = j + 2;
                    } else {
                        self.one("-")?;
                    }
                } else if n <= 4 {
                    self.emit("--")?;
                    self.i = j;
                } else {
                    self.emit_chars(i, j)?;
                    self.i = j;
                }
            }
            '*' => {
                let mut j = i;
                while self.at(j) == Some('*') {
                    j += 1;
                }
                self.emit_chars(i, j)?;
                self.i = j;
            }
            '+' if self.at(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let e = self.number_end(i + 1);
                self.emit_chars(i, e)?;
                self.i = e;
            }
            '?' | '!' => {
                let mut j = i;
                while self.at(j).is_some_and(|d| d == '?' || d == '!') {
                    j += 1;
                }
                self.emit_chars(i, j)?;
                self.i = j;
            }
            ',' | ':'
                if self.at(i + 1).is_some_and(|d| d.is_ascii_digit())
                    && !(c == ':'
                        && self.at(i + 1) == Some('3')
                        && !self.at(i + 2).is_some_and(is_alnum)) =>
            {
                // `,29`, `:09` glued to a number are one token (like `.5`)
                let j = self.number_end(i + 1);
                self.emit_chars(i, j)?;
                self.i = j;
            }
            '_' | '#' if self.at(i + 1) == Some(c) => {
                let mut j = i;
                while self.at(j) == Some(c) {
                    j += 1;
                }
                self.emit_chars(i, j)?;
                self.i = j;
            }
            '<' if self.at(i + 1) == Some('<') => {
                self.emit("<<")?;
                self.i = i + 2;
            }
            '>' if self.at(i + 1) == Some('>') => {
                self.emit(">>")?;
                self.i = i + 2;
            }
            '>' if matches!(self.at(i + 1), Some(':') | Some('='))
                && self.emoticon(i + 1).is_some() =>
            {
                if let Some(j) = self.emoticon(i + 1) {
                    self.emit_emoticon(i, j)?;
                }
            }
            ':' | ';' | '=' => {
                if let Some(j) = self.emoticon(i) {
                    self.emit_emoticon(i, j)?;
                } else {
                    self.one_char(c)?;
                }
            }
            '^' if self.at(i + 1) == Some('_') && self.at(i + 2) == Some('^') => {
                self.emit("^_^")?;
                self.i += 3;
            }
            '#' | '@' if self.at(i + 1).is_some_and(is_letter) => {
                let mut j = i + 1;
                while self.at(j).is_some_and(|d| is_alnum(d) || d == '_') {
                    j += 1;
                }
                self.emit_chars(i, j)?;
                self.i = j;
            }
            '<' => {
                if self
                    .at(i + 1)
                    .is_some_and(|d| d.is_ascii_alphabetic() || d == '/' || d == '!')
                    && !self.starts_with_ci(i + 1, "http")
                {
                    let mut j = i + 1;
                    while self
                        .at(j)
                        .is_some_and(|d| d != '>' && d != '<' && d != '\n')
                        && j - i < 200
                    {
                        j += 1;
                    }
                    if self.at(j) == Some('>')
                        && !(self.at(i + 1) == Some('/')
                            && self.at(i + 2).is_some_and(|d| !d.is_ascii_alphabetic()))
                    {
                        self.emit_chars(i, j + 1)?;
                        self.i = j + 1;
                        return Ok(());
                    }
                }
                self.one("<")?;
            }
            '&' => self.ampersand(i)?,
            _ => self.one_char(c)?,
        }
        Ok(())
    }

    fn one(&mut self, tok: &str) -> Result<()> {
        self.emit(tok)?;
        self.i += 1;
        Ok(())
    }

    fn one_char(&mut self, c: char) -> Result<()> {
        let mut b = [0u8; 4];
        let s: &str = c.encode_utf8(&mut b);
        self.emit(s)?;
        self.i += 1;
        Ok(())
    }

    fn emit_emoticon(&mut self, i: usize, j: usize) -> Result<()> {
        let s: String = self.t[i..j]
            .iter()
            .map(|&ch| match ch {
                ')' => "-RRB-".to_string(),
                '(' => "-LRB-".to_string(),
                o => o.to_string(),
            })
            .collect();
        self.emit(&s)?;
        self.i = j;
        Ok(())
    }

    fn emoticon(&self, i: usize) -> Option<usize> {
        let mut j = i + 1;
        if matches!(self.at(j), Some('-') | Some('o') | Some('\''))
            && matches!(
                self.at(j + 1),
                Some(')') | Some('(') | Some('D') | Some('P') | Some('p')
            )
        {
            j += 1;
        }
        match self.at(j) {
            Some(')') | Some('(') => Some(j + 1),
            Some('D') | Some('P') | Some('p') | Some('O') | Some('3') | Some('|') | Some('[')
            | Some(']')
                if !self.at(j + 1).is_some_and(is_alnum) =>
            {
                Some(j + 1)
            }
            _ => None,
        }
    }

    fn ampersand(&mut self, i: usize) -> Result<()> {
        let mut j = i + 1;
        while self
            .at(j)
            .is_some_and(|d| d.is_ascii_alphanumeric() || d == '#')
            && j - i < 12
        {
            j += 1;
        }
        if self.at(j) == Some(';') && j > i + 1 {
            let name: String = self.t[i + 1..j].iter().collect();
            let next = j + 1;
            match name.as_str() {
                "amp" | "AMP" => {
                    self.emit("&")?;
                    self.i = next;
                    return Ok(());
                }
                "lt" => {
                    self.emit("<")?;
                    self.i = next;
                    return Ok(());
                }
                "gt" => {
                    self.emit(">")?;
                    self.i = next;
                    return Ok(());
                }
                "nbsp" => {
                    self.i = next;
                    return Ok(());
                }
                "apos" => {
                    self.emit("'")?;
                    self.i = next;
                    return Ok(());
                }
                "quot" => {
                    let q = if self
                        .at(next)
                        .is_some_and(|d| d.is_ascii_alphanumeric() || d == '$')
                    {
                        "``"
                    } else {
                        "''"
                    };
                    self.emit(q)?;
                    self.i = next;
                    return Ok(());
                }
                n if n.starts_with('#')
                    && n.len() > 1
                    && n[1..].chars().all(|d| d.is_ascii_digit()) =>
                {
                    self.emit_chars(i, next)?;
                    self.i = next;
                    return Ok(());
                }
                _ => {}
            }
        }
        self.one("&")
    }

    fn apostrophe(&mut self, i: usize) -> Result<()> {
        let q = self.at(i);
        if q == Some('\'') && self.at(i + 1) == q && self.at(i + 2) == q {
            self.emit("'''")?;
            self.i = i + 3;
            return Ok(());
        }
        if self.at(i + 1) == q {
            self.emit("''")?;
            self.i = i + 2;
            return Ok(());
        }
        let typo = q == Some('\u{2019}');
        // word length after the apostrophe
        let mut j = i + 1;
        while self.at(j).is_some_and(is_letter) {
            j += 1;
        }
        let w: String = self.t[i + 1..j].iter().collect::<String>().to_lowercase();
        let boundary = !self.at(j).is_some_and(is_alnum);
        let after_letter = i > 0 && self.at(i - 1).is_some_and(|d| !is_space(d));
        if typo {
            // a clitic glued to more letters still splits off after a word: `c’mon -> c 'm on`
            if after_letter {
                for cl in ["s", "re", "ve", "ll", "d", "m"] {
                    if w.starts_with(cl) && (boundary || w.len() > cl.len()) {
                        let e = i + 1 + cl.len();
                        self.emit(&norm_apos(&self.t[i..e].iter().collect::<String>()))?;
                        self.i = e;
                        return Ok(());
                    }
                }
            }
            if boundary && matches!(w.as_str(), "em" | "cause" | "n") {
                let e = if w == "n" && self.at(j) == q {
                    j + 1
                } else {
                    j
                };
                self.emit_chars(i, e)?;
                self.i = e;
                return Ok(());
            }
            if let Some(k) = self.year_after(i, &w) {
                if !self.at(k).is_some_and(is_alnum) {
                    self.emit_chars(i, k)?;
                    self.i = k;
                    return Ok(());
                }
            }
            return self.one("'");
        }
        if boundary && (w == "twas" || w == "tis") {
            self.emit_chars(i, i + 2)?;
            self.emit_chars(i + 2, j)?;
            self.i = j;
            return Ok(());
        }
        if w.starts_with("em") {
            self.emit_chars(i, i + 3)?;
            self.i = i + 3;
            return Ok(());
        }
        if w == "n" && self.at(j) == Some('\'') {
            self.emit_chars(i, j + 1)?;
            self.i = j + 1;
            return Ok(());
        }
        if boundary
            && matches!(
                w.as_str(),
                "s" | "re" | "ve" | "ll" | "d" | "m" | "cause" | "til" | "till" | "n"
            )
        {
            self.emit_chars(i, j)?;
            self.i = j;
            return Ok(());
        }
        if let Some(k) = self.year_after(i, &w) {
            // `'99` is a token only before whitespace or the end: `'06.` -> `' 06 .` (`'90s,` stays)
            if self.at(k).is_none_or(is_space)
                || (self.at(k - 1) == Some('s') && !self.at(k).is_some_and(is_alnum))
            {
                self.emit_chars(i, k)?;
                self.i = k;
                return Ok(());
            }
        }
        if w.chars().count() >= 2 || (w.chars().count() == 1 && self.at(j) == Some('\'')) {
            self.emit("`")?;
        } else {
            self.emit("'")?;
        }
        self.i = i + 1;
        Ok(())
    }

    /// After an apostrophe at `i` with no letters following (`w` empty): the end of a
    /// two-digit year (`'99`, with a plural `s` when nothing alphanumeric follows it), if
    /// exactly two digits follow. Each caller decides what may come after it.
    fn year_after(&self, i: usize, w: &str) -> Option<usize> {
        if !w.is_empty() {
            return None;
        }
        let mut k = i + 1;
        while self.at(k).is_some_and(|d| d.is_ascii_digit()) {
            k += 1;
        }
        if k - i != 3 {
            return None;
        }
        if self.at(k) == Some('s') && !self.at(k + 1).is_some_and(is_alnum) {
            k += 1;
        }
        Some(k)
    }

    fn email(&self, i: usize) -> Option<usize> {
        let ok_local = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-');
        if !self.at(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let mut j = i;
        while self.at(j).is_some_and(ok_local) && j - i < 100 {
            j += 1;
        }
        if self.at(j) != Some('@') {
            return None;
        }
        let mut k = j + 1;
        let mut dots = 0;
        let s = k;
        while self.at(k).is_some_and(|c| {
            c.is_ascii_alphanumeric()
                || c == '-'
                || (c == '.' && self.at(k + 1).is_some_and(|d| d.is_ascii_alphanumeric()))
        }) {
            if self.at(k) == Some('.') {
                dots += 1;
            }
            k += 1;
        }
        if k > s && dots > 0 {
            Some(k)
        } else {
            None
        }
    }

    /// `1 1/2` (space or no-break space between a whole number and a fraction).
    fn spaced_fraction(&self, i: usize) -> Option<usize> {
        let digits = |mut k: usize| {
            let s = k;
            while self.at(k).is_some_and(|d| d.is_ascii_digit()) {
                k += 1;
            }
            (k > s).then_some(k)
        };
        if i > 0 && self.at(i - 1).is_some_and(is_alnum) {
            return None;
        }
        let a = digits(i)?;
        if !matches!(self.at(a), Some(' ') | Some('\u{a0}')) {
            return None;
        }
        let b = digits(a + 1)?;
        if self.at(b) != Some('/') {
            return None;
        }
        let e = digits(b + 1)?;
        if self.at(e).is_some_and(|d| is_alnum(d) || d == '/') {
            return None;
        }
        Some(e)
    }

    fn number_end(&self, mut j: usize) -> usize {
        while let Some(c) = self.at(j) {
            if c.is_ascii_digit()
                || (matches!(c, '.' | ',' | ':' | '/' | '-')
                    && self.at(j + 1).is_some_and(|d| d.is_ascii_digit()))
            {
                j += 1;
            } else {
                break;
            }
        }
        j
    }

    /// A word-like token starting with a letter or digit.
    fn word(&mut self, i: usize) -> Result<()> {
        let mut j = i;
        // upper-case AT&T-style
        let numeric = self.t[i].is_ascii_digit();
        let (mut seen_sep, mut seen_colon, mut seen_dash, mut seen_slash, mut seen_under) =
            (false, false, false, false, false);
        while let Some(c) = self.at(j) {
            if is_letter(c)
                && j > i
                && self.at(j - 1).is_some_and(|d| d.is_ascii_digit())
                && seen_sep
                && numeric
            {
                // `6:30am -> 6:30 am`, `1,500mg -> 1,500 mg`, `1.3k -> 1.3 k` (but `5km` stays)
                break;
            } else if is_alnum(c) {
                j += 1;
            } else if c == '_' {
                // one underscore between word characters joins (`x_y`), not after a slash (`r/the _ donald`)
                if seen_slash
                    || !self.at(j + 1).is_some_and(is_alnum)
                    || !self.at(j.wrapping_sub(1)).is_some_and(is_alnum)
                {
                    break;
                }
                seen_under = true;
                j += 1;
            } else if matches!(c, '-' | '.' | '/' | ',' | ':')
                && self.at(j + 1).is_some_and(is_alnum)
                && self.at(j.wrapping_sub(1)).is_some_and(is_alnum)
            {
                let digit_next = self.at(j + 1).is_some_and(|d| d.is_ascii_digit());
                if c == ',' || c == ':' {
                    // only between digits, in a number
                    if !(numeric
                        && self.at(j - 1).is_some_and(|d| d.is_ascii_digit())
                        && digit_next)
                        || seen_dash
                    {
                        break;
                    }
                    seen_sep = true;
                    seen_colon |= c == ':';
                } else if c == '.' {
                    // `pt.2 -> pt .2`, `5-7.5 -> 5-7 .5`, `head_meme.gif -> head_meme . gif`,
                    // `1.thats -> 1 . thats`, `al-anon.org -> al-anon . org`, `a/b.c -> a/b . c`
                    let letter_next = self.at(j + 1).is_some_and(is_letter);
                    if (digit_next && (!numeric || seen_dash))
                        || seen_under
                        || (letter_next
                            && (numeric
                                || seen_slash
                                || (seen_dash
                                    && self.at(j.wrapping_sub(2)).is_some_and(is_letter))))
                    {
                        break;
                    }
                    seen_sep = true;
                } else if c == '-' {
                    if numeric && seen_colon {
                        break;
                    }
                    seen_dash = true;
                } else {
                    // at most three parts (`a/b/c / d`), ASCII only (`café / fix`), not after a decimal (`3.0 / x`)
                    let slashes = self.t[i..j].iter().filter(|&&d| d == '/').count();
                    let ascii = self.t[i..j].iter().all(|d| d.is_ascii())
                        && self.at(j + 1).is_some_and(|d| d.is_ascii());
                    if slashes >= 2 || !ascii || (numeric && seen_sep) {
                        break;
                    }
                    seen_slash = true;
                }
                j += 1;
            } else if matches!(c, '!' | '?')
                && self.at(j + 1).is_some_and(is_letter)
                && self.at(j.wrapping_sub(1)).is_some_and(is_letter)
            {
                // `comment!this`, `btw?i` stay one token
                j += 1;
            } else if c == '&'
                && self.at(j + 1).is_some_and(|d| d.is_ascii_uppercase())
                && self.at(j - 1).is_some_and(|d| d.is_ascii_uppercase())
                && self.t[i..j]
                    .iter()
                    .all(|d| d.is_ascii_uppercase() || *d == '&')
            {
                j += 1;
                while self.at(j).is_some_and(|d| d.is_ascii_uppercase()) {
                    j += 1;
                }
                if self.at(j) != Some('&') {
                    break;
                }
            } else if matches!(c, '`' | '\u{2018}')
                && self
                    .at(j.wrapping_sub(1))
                    .is_some_and(|d| d == 'n' || d == 'N')
                && self.at(j + 1).is_some_and(|d| d == 't' || d == 'T')
                && !self.at(j + 2).is_some_and(is_alnum)
            {
                // `don`t -> do n`t`
                j += 2;
                break;
            } else if c == '\u{2019}'
                && self.at(j + 1).is_some_and(is_letter)
                && self.at(j - 1).is_some_and(is_letter)
            {
                // typographic apostrophe: `O’Connell` (one capital before) stays, `n’t` is a clitic,
                // a clitic glued to more letters splits (`c’mon -> c 'm on`, in `apostrophe`)
                let mut k = j + 1;
                while self.at(k).is_some_and(is_letter) {
                    k += 1;
                }
                let rest: String = self.t[j + 1..k].iter().collect::<String>().to_lowercase();
                let clitic = ["s", "re", "ve", "ll", "d", "m"]
                    .iter()
                    .any(|cl| rest.starts_with(cl));
                let name = j == i + 1 && self.t[i].is_uppercase();
                let nt = rest == "t"
                    && self.at(j - 1).is_some_and(|d| d == 'n' || d == 'N')
                    && !self.at(k).is_some_and(is_alnum);
                if nt {
                    j += 2;
                    break;
                }
                if name || (!clitic && k - j > 2) {
                    j += 1;
                } else {
                    break;
                }
            } else if c == '\''
                && self.at(j + 1).is_some_and(is_letter)
                && self.at(j - 1).is_some_and(is_letter)
            {
                // internal apostrophe: only if >= 2 letters follow, or a clitic follows
                let mut k = j + 1;
                while self.at(k).is_some_and(is_letter) {
                    k += 1;
                }
                let nt = k == j + 2
                    && self.at(j + 1).is_some_and(|d| d == 't' || d == 'T')
                    && self.at(j - 1).is_some_and(|d| d == 'n' || d == 'N');
                if nt {
                    // `n't` ends the word: `don't-miss -> do n't - miss`
                    j += 2;
                    break;
                }
                if k - j > 2
                    || self
                        .at(j + 1)
                        .is_some_and(|d| matches!(d, 's' | 'S' | 'd' | 'D' | 'm' | 'M'))
                {
                    j += 1;
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        let stem: String = self.t[i..j].iter().collect();
        if self.at(j).is_some_and(is_apos)
            && (stem.eq_ignore_ascii_case("ol") || stem.eq_ignore_ascii_case("dunkin"))
            && !self.at(j + 1).is_some_and(is_alnum)
        {
            j += 1;
        }
        // abbreviations
        let w: String = self.t[i..j].iter().collect();
        if self.at(j) == Some('$') && self.t[i..j].iter().all(|d| d.is_ascii_uppercase()) {
            // `HK$ 50`, `US$5 -> us$ 5`
            self.emit(&format!("{w}$"))?;
            self.i = j + 1;
            return Ok(());
        }
        if self.at(j) == Some('.') {
            let single = w.chars().count() == 1 && w.chars().all(|c| c.is_ascii_alphabetic());
            // `then-u.s.`: the part after the last hyphen decides
            let tail = w.rsplit('-').next().unwrap_or(&w);
            let acronym = tail.contains('.')
                && tail
                    .split('.')
                    .all(|p| p.chars().count() == 1 && p.chars().all(|c| c.is_alphabetic()));
            let known = acronym
                || FINAL_ABBREVS.contains(&w.as_str())
                || OTHER_ABBREVS.contains(&w.as_str());
            if known && self.at(j + 1) == Some('-') && self.at(j + 2).is_some_and(is_letter) {
                // `Fla.-based`, `N.J.-based` stay one token
                let mut e = j + 2;
                while self.at(e).is_some_and(|d| {
                    is_alnum(d) || (d == '-' && self.at(e + 1).is_some_and(is_alnum))
                }) {
                    e += 1;
                }
                self.emit_chars(i, e)?;
                self.i = e;
                return Ok(());
            }
            if matches!(w.as_str(), "no" | "No" | "NO")
                && self.at(j + 1).is_some_and(is_space)
                && self.at(j + 2).is_some_and(|d| d.is_ascii_digit())
            {
                // `no. 1`
                self.emit(&format!("{w}."))?;
                self.i = j + 1;
                return Ok(());
            }
            if single || matches!(w.as_str(), "Ex" | "Pt" | "Ibid") {
                if self.starter_follows(j + 1) {
                    self.emit(&w)?;
                    self.emit(".")?;
                } else {
                    self.emit(&format!("{w}."))?;
                }
                self.i = j + 1;
                return Ok(());
            }
            if acronym {
                self.emit(&format!("{w}."))?;
                if self.starter_follows(j + 1) {
                    self.emit(".")?;
                }
                self.i = j + 1;
                return Ok(());
            }
            if FINAL_ABBREVS.contains(&w.as_str()) {
                self.emit(&format!("{w}."))?;
                if self.upper_follows(j + 1) {
                    self.emit(".")?;
                }
                self.i = j + 1;
                return Ok(());
            }
            if OTHER_ABBREVS.contains(&w.as_str()) || w == "MtG" {
                self.emit(&format!("{w}."))?;
                self.i = j + 1;
                return Ok(());
            }
        }
        self.i = j;
        self.split_word(&w)
    }

    fn split_word(&mut self, w: &str) -> Result<()> {
        // detection on a lower-cased copy with `’` read as `'`; stems keep their characters,
        // clitic tokens are written with `'`
        let wc: Vec<char> = w.chars().collect();
        let lw: String = wc
            .iter()
            .map(|&c| {
                if c == '\u{2019}' {
                    '\''
                } else {
                    c.to_lowercase().next().unwrap_or(c)
                }
            })
            .collect();
        let n = wc.len();
        let piece = |a: usize, b: usize| wc[a..b].iter().collect::<String>();
        for whole in ["cannot", "gonna", "wanna", "gotta", "gimme", "lemme"] {
            if lw == whole {
                self.emit(&piece(0, 3))?;
                return self.emit(&piece(3, n));
            }
        }
        if lw.starts_with("y'")
            && n > 2
            && !matches!(&lw[2..], "s" | "d" | "m" | "re" | "ve" | "ll")
        {
            self.emit(&piece(0, 2))?;
            return self.split_word(&piece(2, n));
        }
        if let Some(p) = lw.find("'n'") {
            let p = lw[..p].chars().count();
            if p > 0 && n > p + 3 {
                self.emit(&piece(0, p))?;
                self.emit(&piece(p, p + 3))?;
                return self.split_word(&piece(p + 3, n));
            }
        }
        if (lw.ends_with("n`t") || lw.ends_with("n\u{2018}t")) && n > 3 {
            self.emit(&piece(0, n - 3))?;
            return self.emit(&piece(n - 3, n).replace('\u{2018}', "`"));
        }
        if lw.ends_with("n't") && n > 3 {
            self.emit(&piece(0, n - 3))?;
            return self.emit(&norm_apos(&piece(n - 3, n)));
        }
        for suf in ["'em", "'s", "'re", "'ve", "'ll", "'d", "'m"] {
            let k = suf.len();
            if lw.ends_with(suf) && n > k {
                // A chain of clitics splits link by link (`he'd've -> he 'd 've`,
                // `we'll'll -> we 'll 'll`), as the jar does.
                let stem: String = lw.chars().take(n - k).collect();
                let chained = ["n't", "'s", "'re", "'ve", "'ll", "'d", "'m"]
                    .iter()
                    .any(|c| stem.ends_with(c) && stem.chars().count() > c.chars().count());
                if chained {
                    self.split_word(&piece(0, n - k))?;
                } else {
                    self.emit(&piece(0, n - k))?;
                }
                let c = piece(n - k, n);
                return self.emit(&if suf == "'em" { c } else { norm_apos(&c) });
            }
        }
        self.emit(w)
    }
}

#[cfg(test)]
mod tests;
