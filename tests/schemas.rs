//! The JSON Schemas in `schemas/` describe what airlock really reads and writes.
//!
//! A small structural check (object keys, required keys, `additionalProperties:
//! false`, `enum`/`const`, array items, `$ref` into `$defs`, `pattern` for digests)
//! applied to real output: `build --json`, `airlock.lock`, the example's `airlock.toml`.

use crate::support;

use serde_json::Value;
use support::{Sandbox, stderr, stdout};

fn schema(name: &str) -> Value {
    let text = std::fs::read_to_string(support::repo_root().join("schemas").join(name))
        .expect("schema file");
    serde_json::from_str(&text).expect("schema is JSON")
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            root.pointer(pointer).expect("$ref resolves")
        }
        None => node,
    }
}

fn check(root: &Value, node: &Value, value: &Value, at: &str) {
    let node = resolve(root, node);
    if let Some(options) = node.get("oneOf").and_then(Value::as_array) {
        let fits = options
            .iter()
            .any(|option| std::panic::catch_unwind(|| check(root, option, value, at)).is_ok());
        assert!(fits, "{at}: {value} fits no `oneOf` option");
        return;
    }
    if let Some(expected) = node.get("const") {
        assert_eq!(value, expected, "{at}: const");
    }
    if let Some(options) = node.get("enum").and_then(Value::as_array) {
        assert!(options.contains(value), "{at}: {value} not in {options:?}");
    }
    if let Some(pattern) = node.get("pattern").and_then(Value::as_str) {
        let text = value
            .as_str()
            .unwrap_or_else(|| panic!("{at}: expected a string"));
        assert!(
            regex::Regex::new(pattern).expect("pattern").is_match(text),
            "{at}: `{text}` !~ {pattern}"
        );
    }
    match node.get("type").and_then(Value::as_str) {
        Some("object") => {
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{at}: expected an object, got {value}"));
            let properties = node.get("properties").and_then(Value::as_object);
            for key in node
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let key = key.as_str().expect("required key");
                assert!(object.contains_key(key), "{at}: required `{key}` missing");
            }
            for (key, child) in object {
                let path = format!("{at}.{key}");
                match properties.and_then(|p| p.get(key)) {
                    Some(sub) => check(root, sub, child, &path),
                    None => match node.get("additionalProperties") {
                        Some(Value::Bool(false)) => panic!("{path}: not in the schema"),
                        Some(sub @ Value::Object(_)) => check(root, sub, child, &path),
                        _ => {}
                    },
                }
            }
        }
        Some("array") => {
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{at}: expected an array"));
            if let Some(item) = node.get("items") {
                for (i, child) in items.iter().enumerate() {
                    check(root, item, child, &format!("{at}[{i}]"));
                }
            }
        }
        Some("string") => assert!(value.is_string(), "{at}: expected a string"),
        Some("integer") => assert!(
            value.is_u64() || value.is_i64(),
            "{at}: expected an integer"
        ),
        Some("boolean") => assert!(value.is_boolean(), "{at}: expected a boolean"),
        _ => {}
    }
}

fn toml_to_json(text: &str) -> Value {
    let value: toml::Value = toml::from_str(text).expect("TOML");
    serde_json::to_value(value).expect("JSON")
}

#[test]
fn build_output_lock_and_settings_match_their_schemas() {
    let sandbox = Sandbox::quickstart();
    let output = sandbox.build(&["--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let result: Value = serde_json::from_str(&stdout(&output)).expect("json");
    let build_schema = schema("build-output.schema.json");
    check(&build_schema, &build_schema, &result, "build");

    let lock = std::fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock");
    let lock_schema = schema("airlock.lock.schema.json");
    check(&lock_schema, &lock_schema, &toml_to_json(&lock), "lock");

    let settings_schema = schema("airlock.toml.schema.json");
    for text in [
        std::fs::read_to_string(sandbox.project.join("airlock.toml")).expect("toml"),
        "[registry]\ndefault = \"127.0.0.1:5000\"\ninsecure = [\"127.0.0.1:5000\"]\nparallelism = 2\n[build]\noutput = \"oci:out:v1\"\n".to_string(),
        "[deployments.dev]\nimage = \"127.0.0.1:5000/team/airflow\"\nruntime-label = \"com.example.runtime\"\nallow-non-runtime-images = true\nskip-parse = true\n".to_string(),
    ] {
        check(&settings_schema, &settings_schema, &toml_to_json(&text), "airlock.toml");
        // And airlock itself accepts what the schema accepts.
        airlock::project::Settings::parse(&text).expect("airlock reads it");
    }
}

#[test]
fn the_schema_check_can_fail() {
    let build_schema = schema("build-output.schema.json");
    let bad = serde_json::json!({"manifest_digest": "sha256:nothex"});
    let caught = std::panic::catch_unwind(|| check(&build_schema, &build_schema, &bad, "bad"));
    assert!(caught.is_err());
}

/// #13 leftover: a lock with `[[images]]` (a multi-stage build) fits the schema too.
#[test]
fn item13_a_lock_with_images_matches_its_schema() {
    let sandbox = Sandbox::quickstart();
    let layout = sandbox.dir.path().join("layout");
    support::copy_tree(&sandbox.base_layout, &layout);
    support::write_base(
        &layout,
        &support::BaseSpec {
            tag: "1".into(),
            onbuild: Vec::new(),
            extra_files: vec![("opt/x.txt".into(), "x\n".into())],
            ..support::BaseSpec::default()
        },
    );
    std::fs::write(
        sandbox.project.join("Dockerfile"),
        "FROM builder:1 AS build\nFROM astro-runtime:3.0-1\nCOPY --from=build /opt/x.txt /opt/x.txt\n",
    )
    .expect("Dockerfile");
    let output = sandbox.build_on(&layout, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lock = std::fs::read_to_string(sandbox.project.join("airlock.lock")).expect("lock");
    assert!(lock.contains("[[images]]"), "{lock}");
    let lock_schema = schema("airlock.lock.schema.json");
    check(&lock_schema, &lock_schema, &toml_to_json(&lock), "lock");
}
