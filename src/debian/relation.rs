//! Dependency relation fields (`Depends`, `Pre-Depends`, `Conflicts`, `Breaks`,
//! `Build-Depends`, ...) and `Provides`: parsing, version constraints, and
//! evaluation of architecture restriction lists and build profiles. Pure: it does
//! not know which packages exist.

use std::fmt;

use super::version::{Version, VersionError};

/// Why a relation field was refused. `relation` is the offending item as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationError {
    #[error("Relation `{relation}` is malformed: {reason}")]
    Syntax {
        relation: String,
        reason: &'static str,
    },
    #[error("Relation `{relation}` has an invalid version")]
    Version {
        relation: String,
        #[source]
        source: VersionError,
    },
}

/// A version relation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum VersionOp {
    /// `<<`
    Lt,
    /// `<=` (and the obsolete `<`)
    Le,
    /// `=`
    Eq,
    /// `>=` (and the obsolete `>`)
    Ge,
    /// `>>`
    Gt,
}

impl fmt::Display for VersionOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionOp::Lt => "<<",
            VersionOp::Le => "<=",
            VersionOp::Eq => "=",
            VersionOp::Ge => ">=",
            VersionOp::Gt => ">>",
        })
    }
}

/// `(op version)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionConstraint {
    pub op: VersionOp,
    pub version: Version,
}

impl VersionConstraint {
    /// Whether `candidate` satisfies this constraint.
    pub(crate) fn matches(&self, candidate: &Version) -> bool {
        let ord = candidate.cmp(&self.version);
        match self.op {
            VersionOp::Lt => ord.is_lt(),
            VersionOp::Le => ord.is_le(),
            VersionOp::Eq => ord.is_eq(),
            VersionOp::Ge => ord.is_ge(),
            VersionOp::Gt => ord.is_gt(),
        }
    }
}

impl fmt::Display for VersionConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({} {})", self.op, self.version)
    }
}

/// One entry of `[amd64 !i386 linux-any]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArchRestriction {
    pub negated: bool,
    pub arch: String,
}

/// One term of a build-profile group `<!nocheck stage1>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProfileTerm {
    pub negated: bool,
    pub profile: String,
}

/// One package relation: `name[:arch] [(op version)] [[arches]] [<profiles>...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relation {
    pub name: String,
    /// The qualifier after `:`, such as `any`, `native` or `amd64`.
    pub arch: Option<String>,
    pub version: Option<VersionConstraint>,
    /// Empty when unrestricted. Either all negated or none.
    pub arches: Vec<ArchRestriction>,
    /// Groups in angle brackets: the relation applies if any group holds; a group
    /// holds if all its terms hold.
    pub profiles: Vec<Vec<ProfileTerm>>,
}

impl Relation {
    /// Whether the relation applies when building for `arch` with the given active
    /// build profiles (usually none).
    #[cfg(test)]
    fn applies(&self, arch: &str, active_profiles: &[&str]) -> bool {
        let arch_ok = match self.arches.first() {
            None => true,
            Some(first) if first.negated => {
                !self.arches.iter().any(|r| arch_matches(&r.arch, arch))
            }
            Some(_) => self.arches.iter().any(|r| arch_matches(&r.arch, arch)),
        };
        let profiles_ok = self.profiles.is_empty()
            || self.profiles.iter().any(|group| {
                group
                    .iter()
                    .all(|t| active_profiles.contains(&t.profile.as_str()) != t.negated)
            });
        arch_ok && profiles_ok
    }

    /// Whether a package named `name` at `version` satisfies the name and version
    /// part of this relation (architecture qualifiers are the resolver's business).
    pub(crate) fn matches(&self, name: &str, version: &Version) -> bool {
        self.name == name && self.version.as_ref().is_none_or(|c| c.matches(version))
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(a) = &self.arch {
            write!(f, ":{a}")?;
        }
        if let Some(c) = &self.version {
            write!(f, " {c}")?;
        }
        if !self.arches.is_empty() {
            let list: Vec<String> = self
                .arches
                .iter()
                .map(|r| format!("{}{}", if r.negated { "!" } else { "" }, r.arch))
                .collect();
            write!(f, " [{}]", list.join(" "))?;
        }
        for group in &self.profiles {
            let terms: Vec<String> = group
                .iter()
                .map(|t| format!("{}{}", if t.negated { "!" } else { "" }, t.profile))
                .collect();
            write!(f, " <{}>", terms.join(" "))?;
        }
        Ok(())
    }
}

/// A comma-separated item: alternatives separated by `|`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dependency {
    pub alternatives: Vec<Relation>,
}

impl Dependency {
    /// This dependency with the alternatives that do not apply to `arch` and the
    /// active profiles removed; `None` when none is left (the item is void).
    #[cfg(test)]
    fn restrict(&self, arch: &str, active_profiles: &[&str]) -> Option<Dependency> {
        let alternatives: Vec<Relation> = self
            .alternatives
            .iter()
            .filter(|r| r.applies(arch, active_profiles))
            .cloned()
            .collect();
        (!alternatives.is_empty()).then_some(Dependency { alternatives })
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// A `Provides` entry: a virtual (or real) name with an optional exact version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provide {
    pub name: String,
    pub arch: Option<String>,
    pub version: Option<Version>,
}

/// Parses a relation field. Newlines (folded fields) count as whitespace; empty
/// items between commas are skipped, as dpkg does for substituted fields.
pub(super) fn parse_relations(field: &str) -> Result<Vec<Dependency>, RelationError> {
    let mut out = Vec::new();
    for item in field.split(',') {
        if item.trim().is_empty() {
            continue;
        }
        let mut alternatives = Vec::new();
        for alt in item.split('|') {
            alternatives.push(parse_relation(alt)?);
        }
        out.push(Dependency { alternatives });
    }
    Ok(out)
}

/// Parses a `Provides` field: no alternatives, no restrictions, and only `=` as a
/// version relation.
pub(super) fn parse_provides(field: &str) -> Result<Vec<Provide>, RelationError> {
    let mut out = Vec::new();
    for item in field.split(',') {
        if item.trim().is_empty() {
            continue;
        }
        let syntax = |reason| RelationError::Syntax {
            relation: item.trim().to_owned(),
            reason,
        };
        if item.contains('|') {
            return Err(syntax("`Provides` takes no alternatives"));
        }
        let rel = parse_relation(item)?;
        if !rel.arches.is_empty() || !rel.profiles.is_empty() {
            return Err(syntax("`Provides` takes no restrictions"));
        }
        let version = match rel.version {
            None => None,
            Some(VersionConstraint {
                op: VersionOp::Eq,
                version,
            }) => Some(version),
            Some(_) => return Err(syntax("`Provides` allows only `=` versions")),
        };
        out.push(Provide {
            name: rel.name,
            arch: rel.arch,
            version,
        });
    }
    Ok(out)
}

/// Keeps the dependencies that apply to `arch` with `active_profiles`, each reduced
/// to its applicable alternatives.
#[cfg(test)]
fn restrict(deps: &[Dependency], arch: &str, active_profiles: &[&str]) -> Vec<Dependency> {
    deps.iter()
        .filter_map(|d| d.restrict(arch, active_profiles))
        .collect()
}

/// Debian architecture wildcard matching: `any`, `<os>-any`, `any-<cpu>`, or an
/// exact name. A plain name like `amd64` is the Linux port of that CPU.
#[cfg(test)]
fn arch_matches(pattern: &str, arch: &str) -> bool {
    if pattern == arch || pattern == "any" {
        return true;
    }
    let split = |a: &'_ str| -> (String, String) {
        match a.split_once('-') {
            Some((os, cpu)) => (os.to_owned(), cpu.to_owned()),
            None => ("linux".to_owned(), a.to_owned()),
        }
    };
    if arch == "all" || pattern == "all" {
        return false;
    }
    let (os, cpu) = split(arch);
    match pattern.split_once('-') {
        Some(("any", pcpu)) => pcpu == cpu,
        Some((pos, "any")) => pos == os,
        Some((pos, pcpu)) => pos == os && pcpu == cpu,
        None => os == "linux" && pattern == cpu,
    }
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        while self.s[self.pos..].starts_with(char::is_whitespace) {
            self.pos += self.s[self.pos..].chars().next().map_or(1, char::len_utf8);
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }
    /// Text up to (not including) `close`, consuming `close`.
    fn until(&mut self, close: u8) -> Option<&'a str> {
        let rest = &self.s[self.pos..];
        let n = rest.bytes().position(|b| b == close)?;
        self.pos += n + 1;
        Some(&rest[..n])
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
}

fn parse_relation(text: &str) -> Result<Relation, RelationError> {
    let relation = || text.split_whitespace().collect::<Vec<_>>().join(" ");
    let syntax = |reason| RelationError::Syntax {
        relation: relation(),
        reason,
    };
    let mut c = Cursor { s: text, pos: 0 };
    c.skip_ws();
    let name = c.take_while(is_name_byte);
    if name.is_empty() {
        return Err(syntax(if c.peek().is_none() {
            "an alternative is empty"
        } else {
            "expected a package name"
        }));
    }
    let arch = if c.peek() == Some(b':') {
        c.pos += 1;
        let a = c.take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if a.is_empty() {
            return Err(syntax("expected an architecture after `:`"));
        }
        Some(a.to_owned())
    } else {
        None
    };
    c.skip_ws();
    let version = if c.peek() == Some(b'(') {
        c.pos += 1;
        let inner = c.until(b')').ok_or_else(|| syntax("`(` is not closed"))?;
        let inner = inner.trim_start();
        let op_len = inner
            .bytes()
            .take_while(|b| matches!(b, b'<' | b'>' | b'='))
            .count();
        let op = match &inner[..op_len] {
            "<<" => VersionOp::Lt,
            "<=" | "<" => VersionOp::Le,
            "=" => VersionOp::Eq,
            ">=" | ">" => VersionOp::Ge,
            ">>" => VersionOp::Gt,
            "" => return Err(syntax("expected `<<`, `<=`, `=`, `>=` or `>>` after `(`")),
            _ => return Err(syntax("unknown version operator")),
        };
        let version =
            Version::parse(&inner[op_len..]).map_err(|source| RelationError::Version {
                relation: relation(),
                source,
            })?;
        Some(VersionConstraint { op, version })
    } else {
        None
    };
    c.skip_ws();
    let mut arches = Vec::new();
    if c.peek() == Some(b'[') {
        c.pos += 1;
        let inner = c.until(b']').ok_or_else(|| syntax("`[` is not closed"))?;
        for word in inner.split_whitespace() {
            let (negated, a) = match word.strip_prefix('!') {
                Some(a) => (true, a),
                None => (false, word),
            };
            if a.is_empty() || !a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(syntax("bad architecture in `[...]`"));
            }
            arches.push(ArchRestriction {
                negated,
                arch: a.to_owned(),
            });
        }
        if arches.is_empty() {
            return Err(syntax("empty architecture list"));
        }
        if arches.iter().any(|r| r.negated != arches[0].negated) {
            return Err(syntax("an architecture list mixes `!` and plain names"));
        }
    }
    c.skip_ws();
    let mut profiles = Vec::new();
    while c.peek() == Some(b'<') {
        c.pos += 1;
        let inner = c.until(b'>').ok_or_else(|| syntax("`<` is not closed"))?;
        let mut group = Vec::new();
        for word in inner.split_whitespace() {
            let (negated, p) = match word.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, word),
            };
            if p.is_empty() || !p.bytes().all(|b| is_name_byte(b) || b == b'_') {
                return Err(syntax("bad build profile name"));
            }
            group.push(ProfileTerm {
                negated,
                profile: p.to_owned(),
            });
        }
        if group.is_empty() {
            return Err(syntax("empty build profile group"));
        }
        profiles.push(group);
        c.skip_ws();
    }
    if c.peek().is_some() {
        return Err(syntax("unexpected text after the relation"));
    }
    Ok(Relation {
        name: name.to_owned(),
        arch,
        version,
        arches,
        profiles,
    })
}

impl crate::hint::Hint for RelationError {
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Version { source, .. } => source.hints(),
            Self::Syntax { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<Dependency> {
        parse_relations(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }
    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn the_example_from_the_brief() {
        let deps = parse("a (>= 1.0) | b:any, c [amd64], d <!nocheck>");
        assert_eq!(deps.len(), 3);
        let a = &deps[0].alternatives[0];
        assert_eq!(a.name, "a");
        assert_eq!(a.version.as_ref().unwrap().op, VersionOp::Ge);
        assert_eq!(a.version.as_ref().unwrap().version.as_str(), "1.0");
        let b = &deps[0].alternatives[1];
        assert_eq!((b.name.as_str(), b.arch.as_deref()), ("b", Some("any")));
        assert_eq!(
            deps[1].alternatives[0].arches,
            [ArchRestriction {
                negated: false,
                arch: "amd64".into()
            }]
        );
        assert_eq!(
            deps[2].alternatives[0].profiles,
            [vec![ProfileTerm {
                negated: true,
                profile: "nocheck".into()
            }]]
        );
        let shown: Vec<String> = deps.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["a (>= 1.0) | b:any", "c [amd64]", "d <!nocheck>"]);
    }

    #[test]
    fn all_operators_and_spacing() {
        let deps = parse(
            "a (<< 1), b (<= 2), c (= 3), d (>= 4), e (>> 5), f(<6), g ( >7 ), h (>=1:2.0-1)",
        );
        let ops: Vec<VersionOp> = deps
            .iter()
            .map(|d| d.alternatives[0].version.as_ref().unwrap().op)
            .collect();
        use VersionOp::*;
        assert_eq!(ops, [Lt, Le, Eq, Ge, Gt, Le, Ge, Ge]);
        assert_eq!(
            deps[7].alternatives[0]
                .version
                .as_ref()
                .unwrap()
                .version
                .epoch(),
            1
        );
    }

    #[test]
    fn folded_real_world_field() {
        let field = "libc6 (>= 2.34),\n libcurl3-gnutls (>= 7.56.1),\n libexpat1 (>= 2.0.1), libpcre2-8-0 (>= 10.34), zlib1g (>= 1:1.2.0),\n perl, liberror-perl, git-man (>> 1:2.39.5), git-man (<< 1:2.39.5-.)";
        let deps = parse(field);
        assert_eq!(deps.len(), 9);
        assert_eq!(
            deps[8].alternatives[0]
                .version
                .as_ref()
                .unwrap()
                .version
                .as_str(),
            "1:2.39.5-."
        );
    }

    #[test]
    fn arch_qualifiers() {
        let deps = parse("python3:any, libfoo:native, libbar:amd64 (>= 1)");
        let quals: Vec<Option<&str>> = deps
            .iter()
            .map(|d| d.alternatives[0].arch.as_deref())
            .collect();
        assert_eq!(quals, [Some("any"), Some("native"), Some("amd64")]);
    }

    #[test]
    fn version_matching() {
        let c = |s: &str| parse(s).remove(0).alternatives.remove(0);
        assert!(c("a (>= 1.0)").matches("a", &v("1.0")));
        assert!(c("a (>= 1.0)").matches("a", &v("1.0.1")));
        assert!(!c("a (>= 1.0)").matches("a", &v("1.0~rc1")));
        assert!(!c("a (>= 1.0)").matches("b", &v("2.0")));
        assert!(!c("a (<< 2)").matches("a", &v("1:0")));
        assert!(c("a (<< 2)").matches("a", &v("1.9")));
        assert!(!c("a (<< 2)").matches("a", &v("2")));
        assert!(c("a (<= 2)").matches("a", &v("2~1")));
        assert!(!c("a (<= 2)").matches("a", &v("2.0")));
        assert!(c("a (= 2-1)").matches("a", &v("0:2-1")));
        assert!(!c("a (= 2-1)").matches("a", &v("2-1+b1")));
        assert!(c("a (>> 2)").matches("a", &v("2+b1")));
        assert!(!c("a (>> 2)").matches("a", &v("2")));
        assert!(c("a").matches("a", &v("0")));
    }

    #[test]
    fn arch_lists_evaluate_for_amd64() {
        let applies = |s: &str| parse(s)[0].alternatives[0].applies("amd64", &[]);
        assert!(applies("a [amd64]"));
        assert!(applies("a [i386 amd64]"));
        assert!(!applies("a [i386 arm64]"));
        assert!(!applies("a [!amd64]"));
        assert!(applies("a [!i386 !armhf]"));
        assert!(applies("a [linux-any]"));
        assert!(applies("a [any-amd64]"));
        assert!(applies("a [any]"));
        assert!(applies("a [linux-amd64]"));
        assert!(!applies("a [kfreebsd-any]"));
        assert!(!applies("a [any-i386]"));
        assert!(!applies("a [!linux-any]"));
        assert!(applies("a [hurd-amd64 amd64]"));
        assert!(!applies("a [hurd-amd64]"));
    }

    #[test]
    fn profiles_evaluate() {
        let r = |s: &str| parse(s).remove(0).alternatives.remove(0);
        assert!(r("d <!nocheck>").applies("amd64", &[]));
        assert!(!r("d <!nocheck>").applies("amd64", &["nocheck"]));
        assert!(!r("d <stage1>").applies("amd64", &[]));
        assert!(r("d <stage1>").applies("amd64", &["stage1"]));
        // OR of groups, AND within a group.
        let x = r("d <stage1 !nocheck> <cross>");
        assert!(x.applies("amd64", &["stage1"]));
        assert!(!x.applies("amd64", &["stage1", "nocheck"]));
        assert!(x.applies("amd64", &["cross", "nocheck"]));
        assert!(!x.applies("amd64", &[]));
        // Arch list and profiles together.
        let y = r("d [amd64] <!nocheck>");
        assert!(y.applies("amd64", &[]));
        assert!(!y.applies("arm64", &[]));
    }

    #[test]
    fn restrict_drops_inapplicable() {
        let deps = parse("a [i386] | b, c [!amd64], d <stage1>, e <!nocheck> | f [arm64]");
        let kept = restrict(&deps, "amd64", &[]);
        let shown: Vec<String> = kept.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["b", "e <!nocheck>"]);
    }

    #[test]
    fn empty_items_are_skipped() {
        assert!(parse("").is_empty());
        assert!(parse("  \n ").is_empty());
        assert_eq!(parse("a, , b,").len(), 2);
    }

    #[test]
    fn provides() {
        let p =
            parse_provides("mail-transport-agent, libfoo-abi-2 (= 2.1-1), python3-foo:any (= 1.0)")
                .unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0],
            Provide {
                name: "mail-transport-agent".into(),
                arch: None,
                version: None
            }
        );
        assert_eq!(p[1].version.as_ref().unwrap().as_str(), "2.1-1");
        assert_eq!(p[2].arch.as_deref(), Some("any"));
        assert!(matches!(
            parse_provides("a (>= 1)"),
            Err(RelationError::Syntax { .. })
        ));
        assert!(matches!(
            parse_provides("a | b"),
            Err(RelationError::Syntax { .. })
        ));
        assert!(matches!(
            parse_provides("a [amd64]"),
            Err(RelationError::Syntax { .. })
        ));
    }

    #[test]
    fn errors() {
        let reason = |s: &str| match parse_relations(s) {
            Err(RelationError::Syntax { reason, .. }) => reason,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(reason("a | | b"), "an alternative is empty");
        assert_eq!(reason("a (>= 1"), "`(` is not closed");
        assert_eq!(
            reason("a (1.0)"),
            "expected `<<`, `<=`, `=`, `>=` or `>>` after `(`"
        );
        assert_eq!(reason("a (=> 1.0)"), "unknown version operator");
        assert_eq!(reason("a [amd64"), "`[` is not closed");
        assert_eq!(
            reason("a [amd64 !i386]"),
            "an architecture list mixes `!` and plain names"
        );
        assert_eq!(reason("a []"), "empty architecture list");
        assert_eq!(reason("a <>"), "empty build profile group");
        assert_eq!(reason("a <nocheck"), "`<` is not closed");
        assert_eq!(reason("a b"), "unexpected text after the relation");
        assert_eq!(reason("A"), "expected a package name");
        assert_eq!(reason("a:"), "expected an architecture after `:`");
        assert_eq!(
            reason("a [amd64] (>= 1)"),
            "unexpected text after the relation"
        );
        assert!(matches!(
            parse_relations("a (>= 1_0)"),
            Err(RelationError::Version { .. })
        ));
        let msg = parse_relations("x, a\n  b").unwrap_err().to_string();
        assert_eq!(
            msg,
            "Relation `a b` is malformed: unexpected text after the relation"
        );
    }
}
