//! Collecting the imports of a parsed file, relative ones made absolute.
//!
//! Owns walking the AST for `import` / `from ... import` statements, resolving relative
//! imports against the file's package, and recognising imports that are allowed to fail
//! at run time (see [`Guard`]). It must not decide whether a module exists: that is
//! [`ModuleUniverse`](super::ModuleUniverse)'s job.

use std::cmp::Ordering;

use ruff_python_ast::{
    CmpOp, ExceptHandler, Expr, ModModule, Number, Stmt, StmtFunctionDef, StmtIf, StmtImport,
    StmtImportFrom,
};
use ruff_text_size::Ranged;

use super::diagnostic::{Diagnostic, DiagnosticKind, SourceMap};
use super::resolve::PythonVersion;

/// The directories Airflow (or the image's `WORKDIR`) puts on `sys.path`, most specific
/// first. The empty string is the project root.
pub(crate) const SYS_PATH_ROOTS: [&str; 3] = ["dags/", "plugins/", ""];

/// Why an import is allowed to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Guard {
    /// Inside `try:` whose handlers catch `ImportError` (or a base of it).
    TryExcept,
    /// Under `if TYPE_CHECKING:`, never executed.
    TypeChecking,
    /// In a branch of a `sys.version_info` comparison not taken on the image's Python.
    OtherPythonVersion,
    /// In a function that Airflow runs in another environment
    /// (`@task.virtualenv`, `@task.external_python`, `@task.docker`, `@task.kubernetes`).
    IsolatedTask,
}

/// A name imported by `from module import name`, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ImportedName {
    pub name: String,
    pub offset: usize,
    pub line: u32,
    pub column: u32,
}

/// One module an import statement needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Import {
    /// Absolute dotted module name (relative imports already resolved).
    pub module: String,
    /// Names after `from module import`; empty for `import module` and `*`.
    pub names: Vec<ImportedName>,
    /// Byte offset of the module name in the source (of the statement when there is no
    /// name, as in `from . import x`).
    pub offset: usize,
    pub line: u32,
    pub column: u32,
    /// `Some` when a failure of this import does not break the file.
    pub guard: Option<Guard>,
}

/// The imports of one file, and relative imports that cannot work from where it lives.
#[derive(Debug, Default)]
pub(super) struct Imports {
    pub imports: Vec<Import>,
    pub problems: Vec<Diagnostic>,
}

/// Walks a module for imports; `map` must be the map of the text `module` was parsed
/// from, and its file name the project-relative path (used for relative imports).
/// `python` decides `if sys.version_info >= (3, N):` branches.
pub(super) fn collect_imports(
    module: &ModModule,
    map: &SourceMap<'_>,
    python: PythonVersion,
) -> Imports {
    let mut collector = Collector {
        map,
        python,
        package: package_of(map.file()),
        out: Imports::default(),
    };
    collector.walk(&module.body, None);
    collector.out
}

/// The package a file belongs to, as seen from the most specific `sys.path` root:
/// `plugins/pkg/sub/mod.py` → `["pkg", "sub"]`, `include/x.py` → `["include"]`,
/// `dags/my_dag.py` → `[]` (top level: no parent package).
pub(crate) fn package_of(file: &str) -> Vec<&str> {
    let root = SYS_PATH_ROOTS
        .iter()
        .find(|root| file.starts_with(*root))
        .copied()
        .unwrap_or("");
    let rest = &file[root.len()..];
    let mut parts: Vec<&str> = rest.split('/').collect();
    parts.pop();
    parts
}

struct Collector<'m, 'a> {
    map: &'m SourceMap<'a>,
    python: PythonVersion,
    package: Vec<&'a str>,
    out: Imports,
}

impl Collector<'_, '_> {
    fn walk(&mut self, body: &[Stmt], guard: Option<Guard>) {
        for stmt in body {
            self.stmt(stmt, guard);
        }
    }

    fn stmt(&mut self, stmt: &Stmt, guard: Option<Guard>) {
        match stmt {
            Stmt::Import(import) => self.import(import, guard),
            Stmt::ImportFrom(import) => self.import_from(import, guard),
            Stmt::If(stmt_if) => self.stmt_if(stmt_if, guard),
            Stmt::Try(stmt_try) => {
                let catches = stmt_try.handlers.iter().any(|handler| {
                    let ExceptHandler::ExceptHandler(handler) = handler;
                    handler.type_.as_deref().is_none_or(catches_import_error)
                });
                self.walk(
                    &stmt_try.body,
                    if catches {
                        Some(Guard::TryExcept)
                    } else {
                        guard
                    },
                );
                for handler in &stmt_try.handlers {
                    let ExceptHandler::ExceptHandler(handler) = handler;
                    self.walk(&handler.body, guard);
                }
                self.walk(&stmt_try.orelse, guard);
                self.walk(&stmt_try.finalbody, guard);
            }
            Stmt::FunctionDef(def) => {
                let inner = if is_isolated_task(def) {
                    Some(Guard::IsolatedTask)
                } else {
                    guard
                };
                self.walk(&def.body, inner);
            }
            Stmt::ClassDef(class) => self.walk(&class.body, guard),
            Stmt::For(stmt_for) => {
                self.walk(&stmt_for.body, guard);
                self.walk(&stmt_for.orelse, guard);
            }
            Stmt::While(stmt_while) => {
                self.walk(&stmt_while.body, guard);
                self.walk(&stmt_while.orelse, guard);
            }
            Stmt::With(with) => self.walk(&with.body, guard),
            Stmt::Match(stmt_match) => {
                for case in &stmt_match.cases {
                    self.walk(&case.body, guard);
                }
            }
            _ => {}
        }
    }

    /// Branches under `TYPE_CHECKING` are guarded, and so are branches that a
    /// `sys.version_info` comparison rules out for the image's Python.
    fn stmt_if(&mut self, stmt_if: &StmtIf, guard: Option<Guard>) {
        let branches = std::iter::once((Some(&*stmt_if.test), &stmt_if.body[..])).chain(
            stmt_if
                .elif_else_clauses
                .iter()
                .map(|clause| (clause.test.as_ref(), &clause.body[..])),
        );
        let mut earlier_branch_taken = false;
        for (test, body) in branches {
            let condition = test.and_then(|t| version_condition(t, self.python));
            let branch_guard = if earlier_branch_taken || condition == Some(false) {
                Some(Guard::OtherPythonVersion)
            } else if test.is_some_and(is_type_checking) {
                Some(Guard::TypeChecking)
            } else {
                guard
            };
            self.walk(body, branch_guard);
            earlier_branch_taken |= condition == Some(true);
        }
    }

    fn import(&mut self, import: &StmtImport, guard: Option<Guard>) {
        for alias in &import.names {
            let offset = alias.name.range().start().to_usize();
            let (line, column) = self.map.line_column(offset);
            self.out.imports.push(Import {
                module: alias.name.as_str().to_owned(),
                names: Vec::new(),
                offset,
                line,
                column,
                guard,
            });
        }
    }

    fn import_from(&mut self, import: &StmtImportFrom, guard: Option<Guard>) {
        let offset = match &import.module {
            Some(name) => name.range().start().to_usize(),
            None => import.range().start().to_usize(),
        };
        let written = import.module.as_ref().map_or("", |m| m.as_str());
        let module =
            if import.level == 0 {
                written.to_owned()
            } else {
                match self.absolute(import.level, written) {
                    Ok(module) => module,
                    Err(message) => {
                        if guard.is_none() {
                            self.out.problems.push(self.map.diagnostic(
                            offset,
                            DiagnosticKind::InvalidRelativeImport,
                            message,
                            Some(
                                "use an absolute import: `dags/`, `plugins/` and the project \
                                 root are on `sys.path`"
                                    .into(),
                            ),
                        ));
                        }
                        return;
                    }
                }
            };
        let names = import
            .names
            .iter()
            .filter(|alias| alias.name.as_str() != "*")
            .map(|alias| {
                let offset = alias.name.range().start().to_usize();
                let (line, column) = self.map.line_column(offset);
                ImportedName {
                    name: alias.name.as_str().to_owned(),
                    offset,
                    line,
                    column,
                }
            })
            .collect();
        let (line, column) = self.map.line_column(offset);
        self.out.imports.push(Import {
            module,
            names,
            offset,
            line,
            column,
            guard,
        });
    }

    /// `from ..x import y` in package `a.b.c` → `a.b.x`, following CPython's rules.
    fn absolute(&self, level: u32, written: &str) -> Result<String, String> {
        if self.package.is_empty() {
            return Err(
                "Attempted relative import with no known parent package: the file is not \
                 inside a package"
                    .to_owned(),
            );
        }
        let up = (level as usize).saturating_sub(1);
        if up >= self.package.len() {
            return Err(format!(
                "Attempted relative import beyond top-level package `{}`",
                self.package.join(".")
            ));
        }
        let mut parts: Vec<&str> = self.package[..self.package.len() - up].to_vec();
        if !written.is_empty() {
            parts.push(written);
        }
        Ok(parts.join("."))
    }
}

/// `TYPE_CHECKING` or `<anything>.TYPE_CHECKING` (`typing.`, `t.`, `typing_extensions.`).
fn is_type_checking(test: &Expr) -> bool {
    match test {
        Expr::Name(name) => name.id.as_str() == "TYPE_CHECKING",
        Expr::Attribute(attr) => attr.attr.as_str() == "TYPE_CHECKING",
        _ => false,
    }
}

/// The value of `sys.version_info <op> (3, N)` (or of `sys.version_info[:2]`) on
/// `python`; `None` when the test is anything else or depends on the patch version.
fn version_condition(test: &Expr, python: PythonVersion) -> Option<bool> {
    let Expr::Compare(compare) = test else {
        return None;
    };
    let ([op], [Expr::Tuple(tuple)]) = (&*compare.ops, &*compare.comparators) else {
        return None;
    };
    let sliced = match &*compare.left {
        Expr::Subscript(sub) if is_version_info(&sub.value) => match &*sub.slice {
            Expr::Slice(slice) if slice.lower.is_none() && slice.step.is_none() => {
                int_literal(slice.upper.as_deref()?)? == 2
            }
            _ => return None,
        },
        left if is_version_info(left) => false,
        _ => return None,
    };
    let wanted = tuple
        .elts
        .iter()
        .map(int_literal)
        .collect::<Option<Vec<u8>>>()?;
    if wanted.is_empty() || wanted.len() > 2 {
        return None;
    }
    let actual = [3, python.minor()];
    let ordering = match actual[..wanted.len()].cmp(&wanted[..]) {
        // `(3, 11, 7, 'final', 0) > (3, 11)`: the full tuple is longer, so greater.
        Ordering::Equal if !sliced || wanted.len() < 2 => Ordering::Greater,
        other => other,
    };
    Some(match op {
        CmpOp::Lt => ordering.is_lt(),
        CmpOp::LtE => ordering.is_le(),
        CmpOp::Gt => ordering.is_gt(),
        CmpOp::GtE => ordering.is_ge(),
        CmpOp::Eq => ordering.is_eq(),
        CmpOp::NotEq => ordering.is_ne(),
        _ => return None,
    })
}

/// `sys.version_info`.
fn is_version_info(expr: &Expr) -> bool {
    matches!(expr, Expr::Attribute(attr)
        if attr.attr.as_str() == "version_info"
            && matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == "sys"))
}

fn int_literal(expr: &Expr) -> Option<u8> {
    match expr {
        Expr::NumberLiteral(literal) => match &literal.value {
            Number::Int(int) => int.as_u8(),
            _ => None,
        },
        _ => None,
    }
}

/// Whether an `except` clause's type catches a failed import.
fn catches_import_error(expr: &Expr) -> bool {
    const CATCHERS: [&str; 4] = [
        "ImportError",
        "ModuleNotFoundError",
        "Exception",
        "BaseException",
    ];
    match expr {
        Expr::Name(name) => CATCHERS.contains(&name.id.as_str()),
        Expr::Attribute(attr) => CATCHERS.contains(&attr.attr.as_str()),
        Expr::Tuple(tuple) => tuple.elts.iter().any(catches_import_error),
        _ => false,
    }
}

/// `@task.virtualenv`, `@task.external_python(...)`, `@task.docker`, `@task.kubernetes`
/// and their `branch_` variants: the body runs in another interpreter, so its imports
/// need not exist in the image.
fn is_isolated_task(def: &StmtFunctionDef) -> bool {
    const ISOLATED: [&str; 6] = [
        "virtualenv",
        "external_python",
        "branch_virtualenv",
        "branch_external_python",
        "docker",
        "kubernetes",
    ];
    def.decorator_list.iter().any(|decorator| {
        let expr = match &decorator.expression {
            Expr::Call(call) => &*call.func,
            other => other,
        };
        match expr {
            Expr::Attribute(attr) => {
                ISOLATED.contains(&attr.attr.as_str())
                    && matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == "task")
            }
            Expr::Name(name) => matches!(
                name.id.as_str(),
                "virtualenv_task" | "external_python_task" | "docker_task" | "kubernetes_task"
            ),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::resolve::PythonVersion;
    use super::super::syntax::parse_source;
    use super::*;

    fn imports_of(file: &str, src: &str) -> Imports {
        let python = PythonVersion::new(3, 12).expect("supported");
        let parsed = parse_source(file, src.as_bytes(), python).expect("valid python");
        collect_imports(&parsed.module, &SourceMap::new(file, parsed.text), python)
    }

    fn summary(imports: &Imports) -> Vec<(String, u32, u32, Option<Guard>)> {
        imports
            .imports
            .iter()
            .map(|i| (i.module.clone(), i.line, i.column, i.guard))
            .collect()
    }

    #[test]
    fn absolute_imports_with_positions() {
        let found = imports_of(
            "dags/a.py",
            "import os, a.b as ab\nfrom x.y import z, w as v\n\ndef f():\n    import inner\n",
        );
        assert_eq!(
            summary(&found),
            vec![
                ("os".into(), 1, 8, None),
                ("a.b".into(), 1, 12, None),
                ("x.y".into(), 2, 6, None),
                ("inner".into(), 5, 12, None),
            ]
        );
        let names: Vec<_> = found.imports[2].names.iter().map(|n| &n.name).collect();
        assert_eq!(names, ["z", "w"]);
    }

    #[test]
    fn guards() {
        let src = "\
from typing import TYPE_CHECKING
import typing
try:
    import a
except ImportError:
    import b
try:
    import c
except (ValueError, ModuleNotFoundError):
    pass
try:
    import d
except:
    pass
try:
    import e
except ValueError:
    pass
else:
    import f
if TYPE_CHECKING:
    import g
elif x:
    import h
if typing.TYPE_CHECKING:
    import i

@task.virtualenv(requirements=['j'])
def isolated():
    import j

@task
def normal():
    import k
";
        let found = imports_of("dags/a.py", src);
        let guarded: Vec<_> = found
            .imports
            .iter()
            .map(|i| (i.module.as_str(), i.guard))
            .collect();
        assert_eq!(
            guarded,
            vec![
                ("typing", None),
                ("typing", None),
                ("a", Some(Guard::TryExcept)),
                ("b", None),
                ("c", Some(Guard::TryExcept)),
                ("d", Some(Guard::TryExcept)),
                ("e", None),
                ("f", None),
                ("g", Some(Guard::TypeChecking)),
                ("h", None),
                ("i", Some(Guard::TypeChecking)),
                ("j", Some(Guard::IsolatedTask)),
                ("k", None),
            ]
        );
    }

    #[test]
    fn version_conditions_on_python_3_12() {
        let src = "\
import sys
if sys.version_info >= (3, 11):
    import a
else:
    import b
if sys.version_info < (3, 12):
    import c
elif sys.version_info >= (3, 13):
    import d
else:
    import e
if sys.version_info[:2] == (3, 12):
    import f
if sys.version_info > (3, 12):
    import g
if sys.version_info == (3, 12):
    import h
if sys.version_info >= (3, 12, 1):
    import i
";
        let found = imports_of("dags/a.py", src);
        let other = Some(Guard::OtherPythonVersion);
        let guarded: Vec<_> = found
            .imports
            .iter()
            .map(|i| (i.module.as_str(), i.guard))
            .collect();
        assert_eq!(
            guarded,
            vec![
                ("sys", None),
                ("a", None),
                ("b", other),
                ("c", other),
                ("d", other),
                ("e", None),
                ("f", None),
                ("g", None),
                ("h", other),
                ("i", None),
            ]
        );
    }

    #[test]
    fn relative_imports_resolve_against_the_package() {
        let found = imports_of(
            "plugins/mypkg/sub/mod.py",
            "from . import sibling\nfrom .helpers import f\nfrom ..top import g\n",
        );
        let modules: Vec<_> = found.imports.iter().map(|i| i.module.as_str()).collect();
        assert_eq!(modules, ["mypkg.sub", "mypkg.sub.helpers", "mypkg.top"]);
        assert!(found.problems.is_empty());

        let found = imports_of("include/util/a.py", "from .b import c\n");
        assert_eq!(found.imports[0].module, "include.util.b");
    }

    #[test]
    fn impossible_relative_imports_are_reported() {
        let found = imports_of("dags/my_dag.py", "from .helpers import f\n");
        assert!(found.imports.is_empty());
        assert_eq!(found.problems.len(), 1);
        assert_eq!(
            found.problems[0].kind,
            DiagnosticKind::InvalidRelativeImport
        );
        assert_eq!((found.problems[0].line, found.problems[0].column), (1, 7));

        let found = imports_of("plugins/pkg/a.py", "from ...x import y\n");
        assert!(found.problems[0].message.contains("beyond top-level"));
    }
}
