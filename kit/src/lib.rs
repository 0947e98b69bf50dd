//! The course kit's core: finding the lab regions marked in the reference tree, and writing a
//! student's copy of a file with the regions of labs >= n replaced by stubs.
//!
//! A region is a run of whole lines between two marker comments (the comment leader is `//`,
//! `#` or `<!--`, whatever the file's language takes):
//!
//! ```text
//!     // LAB 2: BEGIN page_alloc
//!     // HINT: take the first page off the free list; zero it if asked.
//!     // STUB: None
//!     ...the solution...
//!     // LAB 2: END page_alloc
//! ```
//!
//! `HINT:` and `STUB:` lines may only follow the BEGIN line directly. In a handout for lab n,
//! a region of lab >= n becomes `// LAB 2: Your code here (page_alloc).`, the hints, and the
//! stub lines (by default `todo!("LAB 2: page_alloc");`, which compiles anywhere a statement
//! does, even as a block's last, and panics loudly when reached). Regions of earlier labs keep
//! their body and lose their marker lines. Markers are comments, so the reference kernel compiles
//! exactly as without them, and rustfmt leaves whole-line comments where they are.
//!
//! Regions nest when the inner one belongs to a later lab (a lab 4 line inside a lab 3
//! function): the handout for lab 4 keeps the lab 3 body and stubs the lab 4 part.
//!
//! A `HANDOUT: <line>` comment is the other way round: a comment in the reference, `<line>` in
//! every handout (the crate roots' `allow` of the warnings that stubs cause).
//!
//! `TEACHER: BEGIN` / `TEACHER: END` regions (the kit's own Makefile targets, the README's
//! course-kit section) are dropped from every handout; their content is not parsed, so it may
//! show marker examples.
//!
//! `CHALLENGE: BEGIN name` / `CHALLENGE: END name` regions hold code that exists only for a
//! lab 4 challenge (priorities, sfork, user exception handlers, the blocking send, ...): they
//! are stubbed in every handout, like a lab 4 region, but say `CHALLENGE (optional)` instead
//! of `Your code here`, and are not exercises. A challenge region may nest in a lab region (an
//! extra match arm inside lab 3's dispatch); its `STUB:` lines are what the handout keeps for
//! the rest to compile (often nothing but a comment: the arm is simply gone).
#![forbid(unsafe_code)]

pub mod similar;

use std::collections::HashSet;
use std::fmt;

/// The lab whose challenges the `CHALLENGE:` regions are (JOS's lab 4 challenges).
pub const CHALLENGE_LAB: u32 = 4;

/// Which labs a handout stubs: every region of a lab >= `from`, except the regions named in
/// `fill` (a student's tree with those exercises done: `kit fill`, the exercise check).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cut {
    pub from: u32,
    pub fill: Vec<String>,
    /// Keep the CHALLENGE regions (the tree as it was before they were marked: the test that
    /// the similarity check finds the leaks they were).
    pub keep_challenges: bool,
}

impl Cut {
    pub fn from(from: u32) -> Cut {
        Cut {
            from,
            ..Cut::default()
        }
    }

    /// Whether region `r` becomes a stub (TEACHER regions are dropped, not stubbed).
    pub fn stubs(&self, r: &Region) -> bool {
        r.lab != 0
            && r.lab >= self.from
            && !self.fill.contains(&r.name)
            && !(r.challenge && self.keep_challenges)
    }
}

/// One marked region of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// 0 for a TEACHER region; CHALLENGE_LAB for a challenge region.
    pub lab: u32,
    /// A `CHALLENGE:` region (optional work, not an exercise).
    pub challenge: bool,
    pub name: String,
    /// Line index (0-based) of the BEGIN marker and of the END marker.
    pub begin: usize,
    pub end: usize,
    /// First body line (after the BEGIN line and its HINT/STUB lines).
    pub body: usize,
    pub hints: Vec<String>,
    pub stub: Vec<String>,
    pub indent: String,
    /// The comment leader of the marker lines (`//`, `#` or `<!--`).
    pub leader: &'static str,
}

impl Region {
    /// A 1-based line number for messages.
    pub fn line(&self) -> usize {
        self.begin + 1
    }

    /// Nesting order: an inner region must come later than the one around it (a challenge
    /// region is later than every lab region of its lab).
    fn order(&self) -> (u32, bool) {
        (self.lab, self.challenge)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// 1-based line.
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

/// What a marker line says.
#[derive(Debug, PartialEq, Eq)]
enum Marker<'a> {
    Begin(u32, bool, &'a str),
    End(u32, bool, &'a str),
    Hint(&'a str),
    Stub(&'a str),
    Handout(&'a str),
}

const LEADERS: [&str; 3] = ["//", "#", "<!--"];

/// The marker on `line`, with its indentation and comment leader. A line is a marker only if
/// it is nothing but the comment.
fn marker(line: &str) -> Option<(Marker<'_>, &str, &'static str)> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let leader = LEADERS.into_iter().find(|l| trimmed.starts_with(l))?;
    let mut text = trimmed[leader.len()..].trim();
    if leader == "<!--" {
        text = text.strip_suffix("-->")?.trim();
    }
    if let Some(h) = text.strip_prefix("HINT:") {
        return Some((
            Marker::Hint(h.strip_prefix(' ').unwrap_or(h)),
            indent,
            leader,
        ));
    }
    if let Some(s) = text.strip_prefix("STUB:") {
        return Some((
            Marker::Stub(s.strip_prefix(' ').unwrap_or(s)),
            indent,
            leader,
        ));
    }
    if let Some(s) = text.strip_prefix("HANDOUT:") {
        return Some((Marker::Handout(s.trim()), indent, leader));
    }
    let mut challenge = false;
    let (lab, rest) = if let Some(r) = text.strip_prefix("TEACHER:") {
        (0, r)
    } else if let Some(r) = text.strip_prefix("CHALLENGE:") {
        challenge = true;
        (CHALLENGE_LAB, r)
    } else {
        let r = text.strip_prefix("LAB ")?;
        let (n, r) = r.split_once(':')?;
        let n: u32 = n.trim().parse().ok()?;
        if n == 0 {
            return None;
        }
        (n, r)
    };
    let rest = rest.trim();
    let (word, name) = rest.split_once(' ').unwrap_or((rest, ""));
    let name = name.trim();
    match word {
        "BEGIN" => Some((Marker::Begin(lab, challenge, name), indent, leader)),
        "END" => Some((Marker::End(lab, challenge, name), indent, leader)),
        _ => None,
    }
}

/// Every region of a file, outermost first at each position, checked: markers matched, names
/// given and equal at both ends, inner regions of a later lab than the region around them,
/// HINT/STUB lines only right after a BEGIN. TEACHER regions are opaque.
pub fn parse(text: &str) -> Result<Vec<Region>, Error> {
    let lines: Vec<&str> = text.lines().collect();
    let mut regions: Vec<Region> = Vec::new();
    // Indices into `regions` of the open regions, innermost last.
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let err = |msg: String| Error { line: i + 1, msg };
        let Some((m, indent, leader)) = marker(lines[i]) else {
            i += 1;
            continue;
        };
        match m {
            Marker::Begin(lab, challenge, name) => {
                if name.is_empty() {
                    return Err(err("BEGIN without a region name".into()));
                }
                if let Some(&o) = open.last() {
                    let outer = &regions[o];
                    if lab == 0 || (lab, challenge) <= outer.order() {
                        return Err(err(format!(
                            "region {name} (lab {lab}) inside {} (lab {}): an inner region must \
                             belong to a later lab",
                            outer.name, outer.lab
                        )));
                    }
                }
                let begin = i;
                let (mut hints, mut stub) = (Vec::new(), Vec::new());
                i += 1;
                while let Some((m, _, _)) = lines.get(i).and_then(|l| marker(l)) {
                    match m {
                        Marker::Hint(h) => hints.push(h.to_string()),
                        Marker::Stub(s) => stub.push(s.to_string()),
                        _ => break,
                    }
                    i += 1;
                }
                regions.push(Region {
                    lab,
                    challenge,
                    name: name.to_string(),
                    begin,
                    end: usize::MAX,
                    body: i,
                    hints,
                    stub,
                    indent: indent.to_string(),
                    leader,
                });
                open.push(regions.len() - 1);
                if lab == 0 {
                    // Opaque: skip to the matching TEACHER: END.
                    while i < lines.len()
                        && !matches!(marker(lines[i]), Some((Marker::End(0, _, _), _, _)))
                    {
                        i += 1;
                    }
                    if i == lines.len() {
                        return Err(Error {
                            line: begin + 1,
                            msg: "TEACHER: BEGIN without END".into(),
                        });
                    }
                }
                continue;
            }
            Marker::End(lab, challenge, name) => {
                let Some(o) = open.pop() else {
                    return Err(err("END without a BEGIN".into()));
                };
                let r = &mut regions[o];
                if r.order() != (lab, challenge) || (!name.is_empty() && name != r.name) {
                    return Err(err(format!(
                        "END of lab {lab} {name} closes region {} of lab {} (line {})",
                        r.name,
                        r.lab,
                        r.begin + 1
                    )));
                }
                r.end = i;
            }
            Marker::Hint(_) | Marker::Stub(_) => {
                return Err(err("HINT/STUB line not right after a BEGIN".into()));
            }
            Marker::Handout(_) => {}
        }
        i += 1;
    }
    if let Some(&o) = open.last() {
        let r = &regions[o];
        return Err(Error {
            line: r.begin + 1,
            msg: format!("region {} (lab {}) has no END", r.name, r.lab),
        });
    }
    Ok(regions)
}

/// A file of the handout, and what it took out.
#[derive(Debug, Default, Clone)]
pub struct Stubbed {
    pub text: String,
    /// Lines (trimmed) of the bodies replaced by stubs.
    pub removed: Vec<String>,
    /// Lines (trimmed) of the reference that the handout keeps.
    pub kept: Vec<String>,
    /// The regions that became stubs.
    pub stubbed: Vec<Region>,
    /// (region name, reference body) of each region that became a stub.
    pub bodies: Vec<(String, String)>,
    /// Lines of `text` (0-based) that lie inside a region filled back from the reference
    /// (`Cut::fill`): the student's own code in a real tree, so no leak check applies to them.
    /// (A stub nested in a filled region shows up only there: fork's fewer-traps challenge,
    /// whose stub is JOS's page walk, which sfork's solution walks too.)
    pub filled: HashSet<usize>,
    /// Lines of `text` so far.
    nlines: usize,
}

/// The handout's version of `text`: regions of labs >= `cut.from` and TEACHER regions
/// replaced, marker lines of the other regions dropped.
pub fn stub(text: &str, cut: &Cut) -> Result<Stubbed, Error> {
    let regions = parse(text)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Stubbed::default();
    let mut i = 0;
    // The input lines inside filled regions (markers included).
    let filled_in: HashSet<usize> = regions
        .iter()
        .filter(|r| r.lab != 0 && cut.fill.contains(&r.name))
        .flat_map(|r| r.begin..=r.end)
        .collect();
    let emit = |out: &mut Stubbed, l: &str, filled: bool| {
        if filled {
            out.filled.insert(out.nlines);
        }
        out.nlines += 1;
        out.text.push_str(l);
        out.text.push('\n');
    };
    // The functions whose body holds a stub get an `allow` of what a stub causes there
    // (parameters and `mut` bindings used only by the solution, code after a `todo!()`),
    // instead of a crate-wide one: other warnings in the student's code stay visible.
    let mut allow_at: HashSet<usize> = HashSet::new();
    for r in regions.iter().filter(|r| r.lab != 0 && cut.stubs(r)) {
        if let Some(f) = enclosing_fn(&lines, r) {
            allow_at.insert(f);
        }
    }
    // Regions are sorted by `begin`; skip the ones inside a stubbed region.
    let mut next = regions.iter().peekable();
    let mut marker_lines: HashSet<usize> = HashSet::new();
    for r in &regions {
        if r.lab == 0 || cut.stubs(r) {
            continue;
        }
        marker_lines.extend(r.begin..r.body);
        marker_lines.insert(r.end);
    }
    while i < lines.len() {
        // Whether the line being emitted comes from inside a filled region.
        let inside_filled = filled_in.contains(&i);
        if let Some(r) = next.peek().copied()
            && r.begin == i
        {
            next.next();
            if r.lab == 0 || cut.stubs(r) {
                if r.lab != 0 {
                    let ind = &r.indent;
                    let c = r.leader;
                    let close = if c == "<!--" { " -->" } else { "" };
                    let head = if r.challenge {
                        format!(
                            "{ind}{c} CHALLENGE (optional, lab {}): {} (see the lab book).{close}",
                            r.lab, r.name
                        )
                    } else {
                        format!(
                            "{ind}{c} LAB {}: Your code here ({}).{close}",
                            r.lab, r.name
                        )
                    };
                    emit(&mut out, &head, inside_filled);
                    for h in &r.hints {
                        emit(&mut out, &format!("{ind}{c} {h}{close}"), inside_filled);
                    }
                    if r.stub.is_empty() {
                        let what = if r.challenge { "CHALLENGE" } else { "LAB" };
                        let lab = if r.challenge {
                            String::new()
                        } else {
                            format!(" {}", r.lab)
                        };
                        emit(
                            &mut out,
                            &format!("{ind}todo!(\"{what}{lab}: {}\");", r.name),
                            inside_filled,
                        );
                    } else {
                        for s in &r.stub {
                            emit(&mut out, &format!("{ind}{s}"), inside_filled);
                        }
                    }
                    out.bodies
                        .push((r.name.clone(), lines[r.body..r.end].join("\n")));
                    out.removed.extend(
                        lines[r.body..r.end]
                            .iter()
                            .map(|l| l.trim().to_string())
                            .filter(|l| !l.is_empty()),
                    );
                    out.stubbed.push(r.clone());
                }
                // Everything up to the END, nested regions included, is gone.
                while next.peek().is_some_and(|n| n.begin < r.end) {
                    next.next();
                }
                i = r.end + 1;
                continue;
            }
        }
        if allow_at.contains(&i) {
            let t = lines[i].trim_start();
            let indent = &lines[i][..lines[i].len() - t.len()];
            emit(&mut out, &format!("{indent}{STUB_ALLOW}"), inside_filled);
        }
        if let Some((Marker::Handout(line), indent, _)) = marker(lines[i]) {
            emit(&mut out, &format!("{indent}{line}"), inside_filled);
        } else if !marker_lines.contains(&i) {
            emit(&mut out, lines[i], inside_filled);
            out.kept.push(lines[i].trim().to_string());
        }
        i += 1;
    }
    Ok(out)
}

/// What a handout allows on a function whose body holds a stub.
pub const STUB_ALLOW: &str =
    "#[allow(unused_variables, unused_mut, unreachable_code)] // the stub's";

/// The line of the `fn` whose body holds region `r` (a Rust region indented inside one), if
/// any: the nearest line above it, less indented, that starts a function; none when a less
/// indented line that is not a function comes first (a macro, an impl block's header).
fn enclosing_fn(lines: &[&str], r: &Region) -> Option<usize> {
    if r.leader != "//" || r.indent.is_empty() {
        return None;
    }
    for i in (0..r.begin).rev() {
        let t = lines[i].trim_start();
        if t.is_empty() || t.starts_with("//") || t.starts_with('#') {
            continue;
        }
        let indent = lines[i].len() - t.len();
        if indent >= r.indent.len() {
            continue;
        }
        let head = t
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ")
            .trim_start_matches("const ")
            .trim_start_matches("unsafe ")
            .trim_start_matches("extern \"C\" ");
        if head.starts_with("fn ") {
            return Some(i);
        }
        // A less indented line of the signature (`) -> Result<i32> {`, a parameter) or a
        // block inside the body: keep looking up; anything else at column 0 ends the search.
        if indent == 0 && !t.starts_with(')') && !t.starts_with('}') {
            return None;
        }
    }
    None
}

/// The lines that the reference holds only inside stubbed region bodies: what the handout
/// must not contain.
pub fn secrets(files: &[(String, Stubbed)]) -> HashSet<&str> {
    let kept: HashSet<&str> = files
        .iter()
        .flat_map(|(_, s)| s.kept.iter().map(String::as_str))
        .collect();
    files
        .iter()
        .flat_map(|(_, s)| s.removed.iter().map(String::as_str))
        .filter(|l| !kept.contains(l))
        .collect()
}

/// A line of the handout that only a removed region body holds in the reference.
#[derive(Debug, PartialEq, Eq)]
pub struct Leak {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub text: String,
}

/// The mechanical check that no solution survives: a line that appears in the reference only
/// inside stubbed region bodies (anywhere in the tree) must appear nowhere in the handout.
/// `files` are (name, reference result) pairs.
pub fn leaks(files: &[(String, Stubbed)]) -> Vec<Leak> {
    let secret = secrets(files);
    let mut found = Vec::new();
    for (name, s) in files {
        for (n, l) in s.text.lines().enumerate() {
            if s.filled.contains(&n) {
                continue;
            }
            let t = l.trim();
            let uncommented = LEADERS
                .iter()
                .find_map(|c| t.strip_prefix(c))
                .map(|r| r.trim_end_matches("-->").trim());
            if secret.contains(t) || uncommented.is_some_and(|u| secret.contains(u)) {
                found.push(Leak {
                    file: name.clone(),
                    line: n + 1,
                    text: l.trim().to_string(),
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "\
fn page_alloc(zero: bool) -> Option<u32> {
    // LAB 2: BEGIN page_alloc
    // HINT: take the first page off the free list.
    let pp = FREE.pop()?;
    if zero {
        clear(pp);
    }
    // LAB 4: BEGIN count
    // STUB: let _ = ();
    COUNT.inc();
    // LAB 4: END count
    Some(pp)
    // LAB 2: END page_alloc
}
";

    #[test]
    fn finds_regions_and_their_parts() {
        let r = parse(SRC).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].lab, r[0].name.as_str()), (2, "page_alloc"));
        assert_eq!((r[0].begin, r[0].body, r[0].end), (1, 3, 12));
        assert_eq!(r[0].hints, ["take the first page off the free list."]);
        assert_eq!((r[1].lab, r[1].body, r[1].end), (4, 9, 10));
        assert_eq!(r[1].stub, ["let _ = ();"]);
        assert_eq!(r[1].indent, "    ");
    }

    #[test]
    fn handout_of_the_region_lab_is_a_stub() {
        let s = stub(SRC, &Cut::from(2)).unwrap();
        assert_eq!(
            s.text,
            "#[allow(unused_variables, unused_mut, unreachable_code)] // the stub's
fn page_alloc(zero: bool) -> Option<u32> {
    // LAB 2: Your code here (page_alloc).
    // take the first page off the free list.
    todo!(\"LAB 2: page_alloc\");
}
"
        );
        assert!(s.removed.contains(&"let pp = FREE.pop()?;".to_string()));
        assert_eq!(s.stubbed.len(), 1, "the nested region goes with its parent");
        assert!(leaks(&[("f.rs".into(), s)]).is_empty());
    }

    #[test]
    fn later_lab_inside_an_earlier_one() {
        let s = stub(SRC, &Cut::from(3)).unwrap();
        assert_eq!(
            s.text,
            "#[allow(unused_variables, unused_mut, unreachable_code)] // the stub's
fn page_alloc(zero: bool) -> Option<u32> {
    let pp = FREE.pop()?;
    if zero {
        clear(pp);
    }
    // LAB 4: Your code here (count).
    let _ = ();
    Some(pp)
}
"
        );
        assert_eq!(s.removed, ["COUNT.inc();"]);
        // The solved tree: only the marker lines go.
        let all = stub(SRC, &Cut::from(5)).unwrap();
        assert!(all.text.contains("COUNT.inc();") && !all.text.contains("LAB"));
        assert!(all.removed.is_empty());
    }

    #[test]
    fn marker_errors() {
        let e = |src: &str| parse(src).unwrap_err();
        assert_eq!(e("// LAB 2: BEGIN a\nx\n").line, 1, "no END");
        assert_eq!(e("x\n// LAB 2: END a\n").line, 2, "END without BEGIN");
        assert_eq!(
            e("// LAB 2: BEGIN a\n// LAB 3: END a\n").line,
            2,
            "wrong lab"
        );
        assert_eq!(
            e("// LAB 2: BEGIN a\n// LAB 2: END b\n").line,
            2,
            "wrong name"
        );
        assert_eq!(e("// LAB 2: BEGIN\n// LAB 2: END\n").line, 1, "no name");
        // Nesting: the inner region must be of a later lab.
        let same = "// LAB 3: BEGIN a\n// LAB 3: BEGIN b\n// LAB 3: END b\n// LAB 3: END a\n";
        assert_eq!(e(same).line, 2);
        let earlier = "// LAB 3: BEGIN a\n// LAB 2: BEGIN b\n// LAB 2: END b\n// LAB 3: END a\n";
        assert_eq!(e(earlier).line, 2);
        assert_eq!(e("x\n// HINT: stray\n").line, 2, "HINT away from a BEGIN");
        assert_eq!(e("// TEACHER: BEGIN a\nx\n").line, 1, "TEACHER without END");
        // Crossed regions.
        let crossed = "// LAB 2: BEGIN a\n// LAB 3: BEGIN b\n// LAB 2: END a\n// LAB 3: END b\n";
        assert_eq!(e(crossed).line, 3);
    }

    #[test]
    fn not_markers() {
        // Only whole-line comments count; other mentions of labs are text.
        let src = "let s = \"// LAB 2: BEGIN x\"; // LAB 2: BEGIN y\n// LAB 2 BEGIN z\n\
                   // LAB 0: BEGIN w\n// LAB 2: Your code here.\n";
        assert_eq!(parse(src).unwrap(), vec![]);
    }

    #[test]
    fn other_comment_leaders_and_teacher_regions() {
        let src = "\
a
# TEACHER: BEGIN kit
# LAB 2: BEGIN example-only (opaque)
handout:
# TEACHER: END
<!-- LAB 3: BEGIN doc -->
secret text
<!-- LAB 3: END doc -->
";
        let r = parse(src).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].lab, r[1].lab), (0, 3));
        let s = stub(src, &Cut::from(3)).unwrap();
        assert_eq!(
            s.text,
            "a\n<!-- LAB 3: Your code here (doc). -->\ntodo!(\"LAB 3: doc\");\n"
        );
        // A TEACHER region goes even from a tree that stubs nothing.
        assert_eq!(stub(src, &Cut::from(9)).unwrap().text, "a\nsecret text\n");
    }

    #[test]
    fn handout_only_lines() {
        let src = "#![no_std]\n// HANDOUT: #![allow(dead_code)]\nfn f() {}\n";
        assert_eq!(parse(src).unwrap(), vec![]);
        let s = stub(src, &Cut::from(1)).unwrap();
        assert_eq!(s.text, "#![no_std]\n#![allow(dead_code)]\nfn f() {}\n");
        // Inside a stubbed region it goes with the body.
        let src = "// LAB 1: BEGIN a\n// HANDOUT: x\n// LAB 1: END a\n";
        assert!(!stub(src, &Cut::from(1)).unwrap().text.contains('x'));
    }

    #[test]
    fn challenge_regions_and_fills() {
        let src = "\
fn send() -> i32 {
    // LAB 4: BEGIN send
    try_send();
    // CHALLENGE: BEGIN blocking
    // STUB: poll();
    block();
    // CHALLENGE: END blocking
    0
    // LAB 4: END send
}
fn extra() {
    // CHALLENGE: BEGIN extra
    work();
    // CHALLENGE: END extra
}
";
        let r = parse(src).unwrap();
        assert_eq!(r.len(), 3);
        assert!(!r[0].challenge && r[1].challenge && r[2].challenge);
        assert_eq!(r[1].lab, CHALLENGE_LAB);
        // The lab 4 handout: the exercise is stubbed with its nested challenge; the other
        // challenge says so and panics if reached.
        let h = stub(src, &Cut::from(4)).unwrap();
        assert!(h.text.contains("todo!(\"LAB 4: send\");"));
        assert!(
            h.text
                .contains("// CHALLENGE (optional, lab 4): extra (see the lab book).")
        );
        assert!(h.text.contains("todo!(\"CHALLENGE: extra\");"));
        assert!(!h.text.contains("block()") && !h.text.contains("work()"));
        // Filling the exercise back keeps its challenge part stubbed (its STUB line).
        let cut = Cut {
            from: 4,
            fill: vec!["send".into()],
            ..Cut::default()
        };
        let f = stub(src, &cut).unwrap();
        assert!(f.text.contains("try_send();") && f.text.contains("poll();"));
        assert!(!f.text.contains("block()"));
        // The finished tree keeps everything.
        let all = stub(src, &Cut::from(5)).unwrap();
        assert!(all.text.contains("block()") && all.text.contains("work()"));
        // A nested stub shown only because its exercise is filled is no leak, though the
        // same line is another stubbed region's solution; the same line given elsewhere is.
        let src2 = "\
fn send() -> i32 {
    // LAB 4: BEGIN send
    // CHALLENGE: BEGIN blocking
    // STUB: walk_pages();
    block();
    // CHALLENGE: END blocking
    0
    // LAB 4: END send
}
fn share() {
    // CHALLENGE: BEGIN share
    walk_pages();
    // CHALLENGE: END share
}
";
        let files = |text: &str| vec![("a.rs".to_string(), stub(text, &cut).unwrap())];
        let filled = files(src2);
        assert!(filled[0].1.text.contains("walk_pages();"));
        assert!(leaks(&filled).is_empty(), "{:?}", leaks(&filled));
        // Outside a filled region the same stub gives the solution away: a leak.
        let stubbed = format!(
            "{src2}fn other() {{\n    // CHALLENGE: BEGIN other\n    // STUB: walk_pages();\n    \
             other_work();\n    // CHALLENGE: END other\n}}\n"
        );
        let l = leaks(&files(&stubbed));
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(l[0].text, "walk_pages();");
        // A lab region may not nest in a challenge.
        let bad =
            "// CHALLENGE: BEGIN a\n// LAB 4: BEGIN b\n// LAB 4: END b\n// CHALLENGE: END a\n";
        assert_eq!(parse(bad).unwrap_err().line, 2);
    }

    #[test]
    fn a_leaking_region_is_caught() {
        // The hint gives the solution away: the check must say where.
        let src = "\
fn f() -> u32 {
    // LAB 1: BEGIN f
    // HINT: return 6828 * 2 + 1;
    return 6828 * 2 + 1;
    // LAB 1: END f
}
";
        let s = stub(src, &Cut::from(1)).unwrap();
        let l = leaks(&[("f.rs".into(), s)]);
        assert_eq!(
            l,
            [Leak {
                file: "f.rs".into(),
                // (line 1 is the stub's allow, line 2 the fn)
                line: 4,
                text: "// return 6828 * 2 + 1;".into()
            }],
            "a commented copy of a body line is a leak too"
        );
        // A stub line that repeats the body verbatim is a leak, even in another file.
        let src2 = src.replace("// HINT: return", "// STUB: return");
        let s = stub(&src2, &Cut::from(1)).unwrap();
        let other = stub("fn g() {\n    return 6828 * 2 + 1;\n}\n", &Cut::from(1)).unwrap();
        let files = [("f.rs".into(), s), ("g.rs".into(), other)];
        // g.rs keeps the line in the reference too: it is not a secret, so no leak anywhere.
        assert!(leaks(&files).is_empty());
        let s = stub(&src2, &Cut::from(1)).unwrap();
        let l = leaks(&[("f.rs".into(), s)]);
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].file.as_str(), l[0].line), ("f.rs", 4));
    }
}
