//! ARCHITECTURE.md's "may use" table, enforced: every path into another module of the library from a file
//! in `crate/src` (in `use` lines, groups over several lines such as `use crate::{a, b::{c, d}}`, and paths
//! written inline) must name a module the table lets the file's module use. The table is read from
//! ARCHITECTURE.md itself, so map and check cannot drift: adding a module is adding its row.
//!
//! What is read: code, not comments (doc links may point anywhere) or string literals. `#[cfg(test)]`
//! modules are read like the rest: a unit test's helpers are dependencies too. Library files reach other
//! modules as `crate::x`; the CLI (`src/bin/`, the row `bin`) reaches the library as `glassbox::x`, read
//! there instead. `super::super::` paths, which this check would not follow, are refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The section of ARCHITECTURE.md whose first table is the map.
const MAP_HEADING: &str = "## What may depend on what";

/// The row of the CLI: every file under `src/bin/`.
const CLI_ROW: &str = "bin";

/// What one row lets its module use.
#[derive(Debug, Clone, PartialEq)]
enum Allowed {
    /// `anything`: a shell on top of the library.
    Anything,
    /// The modules named (none for a leaf).
    Only(BTreeSet<String>),
}

impl Allowed {
    fn permits(&self, module: &str) -> bool {
        match self {
            Allowed::Anything => true,
            Allowed::Only(modules) => modules.contains(module),
        }
    }
}

/// A path from a source file into a module of the library.
#[derive(Debug, Clone, PartialEq)]
struct ModuleUse {
    /// 1-based line of the path in its file.
    line: usize,
    module: String,
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The map, module → what it may use, from ARCHITECTURE.md.
fn read_map() -> BTreeMap<String, Allowed> {
    let path = crate_dir().join("../ARCHITECTURE.md");
    let markdown = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_map(&markdown).unwrap_or_else(|e| panic!("ARCHITECTURE.md: {e}"))
}

/// The first table after [`MAP_HEADING`]: `| module | may use | … |`, one row per module, the module and
/// what it may use in backticks (`—` for nothing, `anything` for a shell).
fn parse_map(markdown: &str) -> Result<BTreeMap<String, Allowed>, String> {
    let section = markdown
        .split_once(MAP_HEADING)
        .ok_or(format!("no section `{MAP_HEADING}`"))?
        .1;
    let mut rows = section
        .lines()
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect::<Vec<_>>()
        });
    let header = rows
        .next()
        .ok_or(format!("no table under `{MAP_HEADING}`"))?;
    if header.len() < 2 || header[0] != "module" || header[1] != "may use" {
        return Err(format!(
            "the table under `{MAP_HEADING}` must start with the columns `module | may use`, not {header:?}"
        ));
    }
    let mut map = BTreeMap::new();
    for cells in rows.skip(1) {
        let [module] = backticked(cells[0])[..] else {
            return Err(format!(
                "a row must name one module in backticks first: {cells:?}"
            ));
        };
        let may_use = cells.get(1).copied().unwrap_or_default();
        let allowed = if may_use == "anything" {
            Allowed::Anything
        } else {
            Allowed::Only(backticked(may_use).into_iter().map(String::from).collect())
        };
        if map.insert(module.to_string(), allowed).is_some() {
            return Err(format!("two rows for `{module}`"));
        }
    }
    Ok(map)
}

/// The words in backticks of a table cell.
fn backticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The top-level module (its row) of a file, given relative to `src`; `None` for the crate root.
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" => None,
        "bin" => Some(CLI_ROW.to_string()),
        _ => Some(first.strip_suffix(".rs").unwrap_or(first).to_string()),
    }
}

/// The modules of the library: each file and folder of `src` but the crate root, plus the CLI's row.
fn source_modules(src: &Path) -> BTreeSet<String> {
    rust_files(src)
        .iter()
        .filter_map(|f| module_of(f.strip_prefix(src).unwrap()))
        .collect()
}

/// Whether `c` may be part of an identifier.
fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `src` with comments, string literals and character literals blanked out (newlines kept, so lines
/// keep their numbers).
fn code_only(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, text: &[char]| {
        out.extend(text.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }))
    };
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        let end = if rest.starts_with(&['/', '/']) {
            // A line comment (doc comments included), up to the newline.
            i + rest.iter().position(|&c| c == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            // A block comment; they nest.
            let (mut depth, mut j) = (0usize, i);
            loop {
                if j + 1 >= chars.len() {
                    break chars.len();
                }
                if chars[j] == '/' && chars[j + 1] == '*' {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars[j + 1] == '/' {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break j;
                    }
                } else {
                    j += 1;
                }
            }
        } else if let Some(RawStringStart { body, hashes }) = raw_string_start(&chars, i) {
            // r"…", r#"…"#, br"…": no escapes, ends at the quote with as many hashes.
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            (body..chars.len())
                .find(|&j| chars[j..].starts_with(&closing))
                .map_or(chars.len(), |j| j + closing.len())
        } else if chars[i] == '"' {
            // A string (b"…" too: the `b` stays, an identifier of no consequence).
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            (j + 1).min(chars.len())
        } else if chars[i] == '\'' && (rest.get(1) == Some(&'\\') || rest.get(2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\'', b'"'), not a lifetime ('a).
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '\'' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            (j + 1).min(chars.len())
        } else {
            out.push(chars[i]);
            i += 1;
            continue;
        };
        blank(&mut out, &chars[i..end]);
        i = end;
    }
    out
}

/// Where a raw string literal's text begins, and how many `#`s close it.
struct RawStringStart {
    body: usize,
    hashes: usize,
}

/// The raw string literal (`r"`, `r#"`, `br"`, …) starting at `i`, if one does.
fn raw_string_start(chars: &[char], i: usize) -> Option<RawStringStart> {
    if i > 0 && is_ident_char(chars[i - 1]) {
        return None; // inside a word: `for"` is not a raw string
    }
    let r = match chars[i] {
        'r' => i,
        'b' if chars.get(i + 1) == Some(&'r') => i + 1,
        _ => return None,
    };
    let hashes = chars[r + 1..].iter().take_while(|&&c| c == '#').count();
    let quote = r + 1 + hashes;
    (chars.get(quote) == Some(&'"')).then_some(RawStringStart {
        body: quote + 1,
        hashes,
    })
}

/// Every module `code` reaches through `root::` (`crate` in the library, `glassbox` in the CLI): the first
/// segment of each path, and each top-level name of a `root::{…}` group, with the line it is on.
fn module_uses(code: &str, root: &str) -> Vec<ModuleUse> {
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut uses = Vec::new();
    for (at, _) in code.match_indices(root) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| is_ident_char(c) || c == '$' || c == ':') {
            continue; // part of a longer name, `$crate` in a macro, or a path's inner segment
        }
        let after = code[at + root.len()..].trim_start();
        let Some(after) = after.strip_prefix("::") else {
            continue;
        };
        let after = after.trim_start();
        // Names with their offsets from `start` (every slice here is a suffix of `code`).
        let (names, start) = if let Some(group) = after.strip_prefix('{') {
            (top_level_names(group), code.len() - group.len())
        } else {
            let name: String = after.chars().take_while(|&c| is_ident_char(c)).collect();
            (vec![(0, name)], at)
        };
        for (offset, name) in names {
            if !name.is_empty() && name != "self" {
                uses.push(ModuleUse {
                    line: line_of(start + offset),
                    module: name,
                });
            }
        }
    }
    uses
}

/// The first name of each comma-separated item of a `{…}` group (given from just after its `{`), with its
/// byte offset; nested groups are skipped.
fn top_level_names(group: &str) -> Vec<(usize, String)> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut item_start = 0;
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                names.push(first_name(group, item_start, at));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                names.push(first_name(group, item_start, at));
                item_start = at + 1;
            }
            _ => {}
        }
    }
    names
}

/// The leading identifier of `group[start..end]`, with its offset in `group`.
fn first_name(group: &str, start: usize, end: usize) -> (usize, String) {
    let item = &group[start..end];
    let skipped = item.len() - item.trim_start().len();
    let name = item
        .trim_start()
        .chars()
        .take_while(|&c| is_ident_char(c))
        .collect();
    (start + skipped, name)
}

#[test]
fn the_map_has_one_row_per_module_and_names_only_modules() {
    let map = read_map();
    let modules = source_modules(&crate_dir().join("src"));
    let missing: Vec<&String> = modules.iter().filter(|m| !map.contains_key(*m)).collect();
    let stale: Vec<&String> = map.keys().filter(|m| !modules.contains(*m)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "ARCHITECTURE.md's map must have one row per module of crate/src: no row for {missing:?}; \
         rows for modules that do not exist: {stale:?}"
    );
    for (module, allowed) in &map {
        if let Allowed::Only(uses) = allowed {
            for used in uses {
                assert!(
                    map.contains_key(used),
                    "ARCHITECTURE.md: `{module}` may use `{used}`, which has no row"
                );
                assert_ne!(used, module, "ARCHITECTURE.md: `{module}` lists itself");
            }
        }
    }
}

/// The map is a layering: no module may use, through others, itself.
#[test]
fn the_map_has_no_cycles() {
    let map = read_map();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    // Repeatedly take the modules whose uses are all taken; what is left holds a cycle.
    loop {
        let ready: Vec<&str> = map
            .iter()
            .filter(|(m, _)| !done.contains(m.as_str()))
            .filter(|(_, allowed)| match allowed {
                Allowed::Anything => true, // a shell: nothing may use it (checked by its users' rows)
                Allowed::Only(uses) => uses.iter().all(|u| done.contains(u.as_str())),
            })
            .map(|(m, _)| m.as_str())
            .collect();
        if ready.is_empty() {
            break;
        }
        done.extend(ready);
    }
    let cyclic: Vec<&String> = map.keys().filter(|m| !done.contains(m.as_str())).collect();
    assert!(
        cyclic.is_empty(),
        "ARCHITECTURE.md's map cannot be layered: a cycle among (or below) {cyclic:?}"
    );
    let shells: Vec<&String> = map
        .iter()
        .filter(|(_, a)| **a == Allowed::Anything)
        .map(|(m, _)| m)
        .collect();
    for (module, allowed) in &map {
        for shell in &shells {
            assert!(
                !matches!(allowed, Allowed::Only(u) if u.contains(*shell)),
                "ARCHITECTURE.md: `{module}` may use `{shell}`, which may use anything"
            );
        }
    }
}

#[test]
fn every_file_uses_only_what_the_map_allows() {
    let map = read_map();
    let src = crate_dir().join("src");
    let mut violations = Vec::new();
    let mut paths_read = 0;
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(module) = module_of(relative) else {
            continue; // the crate root declares the modules
        };
        let shown = Path::new("crate/src").join(relative);
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        if let Some(at) = code.find("super::super::") {
            violations.push(format!(
                "{}:{}: `super::super::` leaves `{module}` unseen by this check; write `crate::…`",
                shown.display(),
                code[..at].matches('\n').count() + 1
            ));
        }
        let root = if module == CLI_ROW {
            "glassbox"
        } else {
            "crate"
        };
        let allowed = map.get(&module);
        for used in module_uses(&code, root) {
            paths_read += 1;
            if used.module == module || allowed.is_some_and(|a| a.permits(&used.module)) {
                continue;
            }
            let rule = match allowed {
                None => "has no row in ARCHITECTURE.md's map".to_string(),
                Some(Allowed::Only(uses)) if uses.is_empty() => {
                    "may use no other module (ARCHITECTURE.md)".to_string()
                }
                Some(Allowed::Only(uses)) => format!(
                    "may use only {} (ARCHITECTURE.md)",
                    uses.iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(Allowed::Anything) => unreachable!("anything is permitted"),
            };
            violations.push(format!(
                "{}:{}: `{module}` uses `{}`, but `{module}` {rule}",
                shown.display(),
                used.line,
                used.module
            ));
        }
    }
    assert!(
        paths_read > 100,
        "only {paths_read} paths read: is the parser broken?"
    );
    assert!(
        violations.is_empty(),
        "dependencies the map forbids (fix the code, or the map where the layering is meant to change):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_reader_sees_groups_over_lines_and_inline_paths_but_not_comments_or_strings() {
    let src = r##"
use crate::{
    cam::{self, CamMethod},
    lime::{LimeParams, mask::{boundaries, MaskOptions}},
    self,
};
// use crate::report;
/* crate::bench /* nested */ crate::web */
/// [`crate::results::Method`]
fn f<'a>(x: &'a str) -> char {
    let _ = "crate::npy::read";
    let _ = r#"crate::render "quoted" "#;
    let _ = crate::numerics::softmax(x);
    let _ = glassbox::model::Model;
    let _ = $crate::rng::SplitMix64;
    let _ = other_crate::files::sha256_hex;
    '"'
}
pub(crate) use crate ::  preprocess::Size;
"##;
    let code = code_only(src);
    assert_eq!(code.lines().count(), src.lines().count());
    let uses = module_uses(&code, "crate");
    let found: Vec<(usize, &str)> = uses.iter().map(|u| (u.line, u.module.as_str())).collect();
    assert_eq!(
        found,
        [
            (3, "cam"),
            (4, "lime"),
            (13, "numerics"),
            (19, "preprocess")
        ]
    );
    let cli: Vec<String> = module_uses(&code, "glassbox")
        .into_iter()
        .map(|u| u.module)
        .collect();
    assert_eq!(cli, ["model"]);
}

#[test]
fn the_map_reader_reads_leaves_lists_and_shells() {
    let markdown = "# A\n\n## What may depend on what\n\nText.\n\n\
                    | module | may use | why |\n|---|---|---|\n\
                    | `numerics` | — | a leaf |\n\
                    | `cam` | `model`, `numerics` | from the head |\n\
                    | `bin` (the CLI) | anything | on top |\n\nMore text.\n| `x` | `y` |\n";
    let map = parse_map(markdown).unwrap();
    assert_eq!(map["numerics"], Allowed::Only(BTreeSet::new()));
    assert_eq!(
        map["cam"],
        Allowed::Only(["model".to_string(), "numerics".to_string()].into())
    );
    assert_eq!(map["bin"], Allowed::Anything);
    assert_eq!(map.len(), 3);
    assert!(parse_map("## What may depend on what\n| a | b |\n|-|-|\n").is_err());
}
