//! The module floors of `docs/architecture.md` hold: a module refers (`crate::x`) only
//! to modules on lower floors. The table in the design document is the rule; this test
//! reads it and every `crate::` path in `src/`, so an import that goes up (or sideways)
//! fails here, naming the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Floors by module name, read from the `## Floors` table of the design document:
/// rows `| N | `module` | … |`.
fn documented_floors(doc: &str) -> BTreeMap<String, u32> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Floors"))
        .expect("docs/architecture.md has a `## Floors` section");
    let mut floors = BTreeMap::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 {
            continue;
        }
        let Ok(floor) = cells[1].parse::<u32>() else {
            continue;
        };
        for name in cells[2].split(',') {
            let name = name.trim().trim_matches('`').trim_end_matches('/');
            if !name.is_empty() {
                floors.insert(name.to_string(), floor);
            }
        }
    }
    floors
}

/// Every top-level module a source text refers to through `crate::`, with its line:
/// `crate::a::b`, `crate::a` and `use crate::{a, b::c}`. Line comments are skipped
/// (doc comments may name modules without importing them).
fn referred_modules(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut grouped: Option<(usize, i32, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let code = without_strings(raw);
        let line = match code.find("//") {
            Some(at) => &code[..at],
            None => code.as_str(),
        };
        if let Some((start, depth, mut body)) = grouped.take() {
            body.push_str(line);
            let depth = depth + brace_balance(line);
            if depth > 0 {
                grouped = Some((start, depth, body));
            } else {
                found.extend(group_heads(&body).into_iter().map(|m| (start, m)));
            }
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = &rest[..at];
            let after = &rest[at + "crate::".len()..];
            rest = after;
            if before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            if let Some(group) = after.strip_prefix('{') {
                let depth = 1 + brace_balance(group);
                if depth > 0 {
                    grouped = Some((index + 1, depth, group.to_string()));
                    break;
                }
                found.extend(group_heads(group).into_iter().map(|m| (index + 1, m)));
                continue;
            }
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((index + 1, name));
            }
        }
    }
    found
}

/// A line with the contents of its one-line string literals removed (`"…"` → `""`),
/// so a path written in a string is not read as an import.
fn without_strings(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (false, '"') => {
                in_string = true;
                out.push(c);
            }
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => {
                in_string = false;
                out.push(c);
            }
            (true, _) => {}
            (false, _) => out.push(c),
        }
    }
    out
}

fn brace_balance(text: &str) -> i32 {
    text.chars()
        .map(|c| match c {
            '{' => 1,
            '}' => -1,
            _ => 0,
        })
        .sum()
}

/// The first path segment of each top-level item of a `{a, b::c, d::{e, f}}` group.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    heads.push(item);
    heads
        .iter()
        .filter_map(|i| {
            let head: String = i
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!head.is_empty() && head != "self").then_some(head)
        })
        .collect()
}

/// Breaches of the floors: a module referring to one on its own floor or above, a
/// module the table does not place, or a reference to a module the table does not place.
fn breaches(floors: &BTreeMap<String, u32>, sources: &[(String, String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (module, file, text) in sources {
        let Some(&own) = floors.get(module) else {
            out.push(format!(
                "{file}: module `{module}` has no floor in the table"
            ));
            continue;
        };
        for (line, target) in referred_modules(text) {
            if &target == module {
                continue;
            }
            match floors.get(&target) {
                None => out.push(format!(
                    "{file}:{line}: `crate::{target}` is not a module with a floor"
                )),
                Some(&floor) if floor >= own => out.push(format!(
                    "{file}:{line}: `{module}` (floor {own}) refers to `{target}` (floor {floor}); a module may use only lower floors"
                )),
                Some(_) => {}
            }
        }
    }
    out
}

/// (module, file, text) for every Rust file under `src/` except the crate roots.
fn crate_sources(src: &Path) -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path: PathBuf = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(src).expect("under src");
            let first = rel.components().next()?.as_os_str().to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            if module == "lib" || module == "main" {
                return None;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            Some((module, format!("src/{}", rel.display()), text))
        })
        .collect()
}

#[test]
fn no_module_imports_a_module_on_its_floor_or_above() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("design doc");
    let floors = documented_floors(&doc);
    let sources = crate_sources(&root.join("src"));
    let modules: std::collections::BTreeSet<&String> = sources.iter().map(|s| &s.0).collect();
    let mut found: Vec<String> = floors
        .keys()
        .filter(|documented| !modules.contains(documented))
        .map(|documented| {
            format!("docs/architecture.md places `{documented}`, which is not a module in src/")
        })
        .collect();
    found.extend(breaches(&floors, &sources));
    assert!(
        found.is_empty(),
        "imports against the floors:\n{}",
        found.join("\n")
    );
}

fn table() -> BTreeMap<String, u32> {
    documented_floors(
        "# x\n\n## Floors\n\n| floor | modules | owns |\n|---|---|---|\n| 0 | `digest`, `confine` | leaves |\n| 1 | `store` | blobs |\n| 2 | `layer`, `image` | two |\n\n## Next\n| 9 | `ignored` | |\n",
    )
}

fn one(module: &str, text: &str) -> Vec<(String, String, String)> {
    vec![(module.into(), format!("src/{module}/x.rs"), text.into())]
}

#[test]
fn the_check_reads_the_table_of_the_floors_section_only() {
    let floors = table();
    assert_eq!(floors.get("digest"), Some(&0));
    assert_eq!(floors.get("image"), Some(&2));
    assert_eq!(floors.get("ignored"), None);
}

#[test]
fn the_check_fails_on_an_import_from_a_higher_floor() {
    let found = breaches(&table(), &one("store", "use crate::layer::LayerRecord;\n"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("src/store/x.rs:1"), "{found:?}");
}

#[test]
fn the_check_fails_on_a_sibling_on_the_same_floor() {
    let text = "fn f() {\n    let _ = crate::image::load();\n}\n";
    let found = breaches(&table(), &one("layer", text));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(":2:"), "{found:?}");
}

#[test]
fn the_check_sees_grouped_and_multi_line_uses() {
    let text = "use crate::{\n    digest::Digest,\n    layer::{Owner, Tree},\n};\n";
    let found = breaches(&table(), &one("store", text));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("`layer`"), "{found:?}");
    let inline = breaches(&table(), &one("store", "use crate::{digest, image::X};\n"));
    assert_eq!(inline.len(), 1, "{inline:?}");
}

#[test]
fn the_check_ignores_paths_inside_strings() {
    let text = "let p = format!(\"crate::{module}::\");\nlet q = \"a \\\" crate::image\";\n";
    assert!(breaches(&table(), &one("store", text)).is_empty());
    let after = "let p = \"x\"; use crate::layer::Y;\n";
    assert_eq!(breaches(&table(), &one("store", after)).len(), 1);
}

#[test]
fn the_check_passes_downward_imports_and_ignores_comments() {
    let text = "use crate::digest::Digest;\nuse crate::store::Store;\n// crate::image is named here only\n/// see [`crate::image`]\n";
    assert!(breaches(&table(), &one("layer", text)).is_empty());
}

#[test]
fn the_check_fails_on_an_unplaced_module() {
    let found = breaches(&table(), &one("newthing", "use crate::digest::Digest;\n"));
    assert_eq!(found.len(), 1, "{found:?}");
    let unknown = breaches(&table(), &one("layer", "use crate::mystery::X;\n"));
    assert_eq!(unknown.len(), 1, "{unknown:?}");
}

// One async runtime per process (issue #11, item 4): `cli` makes it where a command
// starts and hands a `tokio::runtime::Handle` down; library code never makes one.

/// What makes a tokio runtime.
const RUNTIME_MAKERS: [&str; 5] = [
    "Runtime::new",
    "runtime::Builder",
    "Builder::new_multi_thread",
    "Builder::new_current_thread",
    "tokio::main",
];

/// A source text without its test code, line for line: each item under
/// `#[cfg(test)]` (a `mod tests { … }`, a function) blanked, braces counted, and line
/// comments and string contents dropped.
fn without_tests(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(raw) = lines.next() {
        let code = without_strings(raw);
        let line = code.split("//").next().unwrap_or("").to_string();
        if line.trim() != "#[cfg(test)]" {
            out.push(line);
            continue;
        }
        out.push(String::new());
        // Blank the item: to its `;` when it has no body, else to its closing brace.
        let mut depth = 0;
        let mut opened = false;
        for raw in lines.by_ref() {
            out.push(String::new());
            let code = without_strings(raw);
            let line = code.split("//").next().unwrap_or("");
            depth += brace_balance(line);
            opened |= line.contains('{');
            if (opened && depth <= 0) || (!opened && line.trim_end().ends_with(';')) {
                break;
            }
        }
    }
    out
}

/// The files of test-only modules (`#[cfg(test)] mod name;`) next to `file`.
fn test_module_files(file: &Path, text: &str) -> Vec<PathBuf> {
    let dir = match file.file_name().and_then(|n| n.to_str()) {
        Some("mod.rs" | "lib.rs" | "main.rs") => file.parent().map(Path::to_path_buf),
        _ => Some(file.with_extension("")),
    };
    let Some(dir) = dir else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|pair| pair[0] == "#[cfg(test)]")
        .filter_map(|pair| {
            let name = pair[1]
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ")
                .strip_prefix("mod ")?
                .strip_suffix(';')?;
            Some(vec![
                dir.join(format!("{name}.rs")),
                dir.join(name).join("mod.rs"),
            ])
        })
        .flatten()
        .collect()
}

/// Library code that makes a runtime: `file:line: text` for each maker outside `cli`
/// and outside test code.
fn runtimes_made(sources: &[(String, String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (module, file, text) in sources {
        if module == "cli" {
            continue;
        }
        for (index, line) in without_tests(text).iter().enumerate() {
            if RUNTIME_MAKERS.iter().any(|maker| line.contains(maker)) {
                out.push(format!("{file}:{}: `{}`", index + 1, line.trim()));
            }
        }
    }
    out
}

#[test]
fn item4_no_library_code_makes_an_async_runtime() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = crate_sources(&root.join("src"));
    let test_files: Vec<PathBuf> = sources
        .iter()
        .flat_map(|(_, file, text)| test_module_files(&root.join(file), text))
        .collect();
    let library: Vec<(String, String, String)> = sources
        .into_iter()
        .filter(|(_, file, _)| !test_files.contains(&root.join(file)))
        .collect();
    let found = runtimes_made(&library);
    assert!(
        found.is_empty(),
        "library code makes an async runtime (make it in `cli` and hand a `Handle` down):\n{}",
        found.join("\n")
    );
}

#[test]
fn item4_the_runtime_check_fails_on_a_runtime_made_in_library_code() {
    let made = "pub fn runtime() -> tokio::runtime::Runtime {\n    tokio::runtime::Builder::new_multi_thread().build().unwrap()\n}\n";
    assert_eq!(runtimes_made(&one("registry", made)).len(), 1);
    let main = "#[tokio::main]\nasync fn main() {}\n";
    assert_eq!(runtimes_made(&one("pipeline", main)).len(), 1);
    let new = "fn f() { let rt = Runtime::new(); }\n";
    assert_eq!(runtimes_made(&one("debian", new)).len(), 1);
    // The CLI makes the one runtime; tests and comments may name or make one.
    assert!(runtimes_made(&one("cli", made)).is_empty());
    let tested = "fn f() {}\n\n#[cfg(test)]\nmod tests {\n    fn rt() {\n        let _ = tokio::runtime::Runtime::new();\n    }\n}\n\nfn g() { Runtime::new(); }\n";
    let found = runtimes_made(&one("image", tested));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("src/image/x.rs:10:"), "{found:?}");
    let commented = "// a runtime::Builder is made in `cli`\nfn f() {}\n";
    assert!(runtimes_made(&one("image", commented)).is_empty());
    let declared = "#[cfg(test)]\nmod testdeb;\n";
    assert_eq!(
        test_module_files(Path::new("/r/src/debian/mod.rs"), declared),
        [
            PathBuf::from("/r/src/debian/testdeb.rs"),
            PathBuf::from("/r/src/debian/testdeb/mod.rs")
        ]
    );
}
