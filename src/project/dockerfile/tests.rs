//! Unit tests of the Dockerfile parser and evaluation.

use super::*;

fn no_args() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn eval(text: &str) -> Evaluated {
    eval_with(
        text,
        &["PATH=/usr/bin:/bin"],
        "/usr/local/airflow",
        &no_args(),
    )
}

fn eval_with(
    text: &str,
    base_env: &[&str],
    base_workdir: &str,
    build_args: &BTreeMap<String, String>,
) -> Evaluated {
    let dockerfile = parse(text, build_args).unwrap();
    let base_env: Vec<String> = base_env.iter().map(|s| (*s).to_owned()).collect();
    let base = BaseValues {
        env: base_env,
        workdir: base_workdir.to_owned(),
        ..BaseValues::default()
    };
    dockerfile.evaluate(&base, build_args).unwrap()
}

fn env_of(evaluated: &Evaluated, key: &str) -> Option<String> {
    evaluated
        .env
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

fn err(text: &str) -> DockerfileError {
    parse(text, &no_args()).unwrap_err()
}

#[test]
fn minimal_astro_dockerfile() {
    let dockerfile = parse("FROM astro-runtime:12.0.0\n", &no_args()).unwrap();
    assert_eq!(
        dockerfile.from,
        FromLine {
            image: "astro-runtime:12.0.0".to_owned(),
            platform: None,
            stage_name: None,
            line: 1,
        }
    );
    assert!(dockerfile.instructions.is_empty());
}

#[test]
fn realistic_astro_dockerfile() {
    let text = "\
# syntax=docker/dockerfile:1
ARG RUNTIME_VERSION=12.0.0
FROM astro-runtime:${RUNTIME_VERSION}

# Settings for the scheduler
ENV AIRFLOW__CORE__TEST_CONNECTION=Enabled \\
    AIRFLOW__CORE__LOAD_EXAMPLES=False
LABEL org.opencontainers.image.source=\"data-team/airflow-project\" \\
      maintainer=\"Data Team\"
USER astro
";
    let dockerfile = parse(text, &no_args()).unwrap();
    assert_eq!(dockerfile.from.image, "astro-runtime:12.0.0");
    assert_eq!(dockerfile.from.line, 3);
    let lines: Vec<usize> = dockerfile.instructions.iter().map(|i| i.line).collect();
    assert_eq!(lines, vec![6, 8, 10]);
    let evaluated = eval(text);
    assert_eq!(
        evaluated.env,
        vec![
            ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
            (
                "AIRFLOW__CORE__TEST_CONNECTION".to_owned(),
                "Enabled".to_owned()
            ),
            (
                "AIRFLOW__CORE__LOAD_EXAMPLES".to_owned(),
                "False".to_owned()
            ),
        ]
    );
    assert_eq!(evaluated.labels["maintainer"], "Data Team");
    assert_eq!(
        evaluated.labels["org.opencontainers.image.source"],
        "data-team/airflow-project"
    );
    assert_eq!(evaluated.user.as_deref(), Some("astro"));
    assert_eq!(evaluated.workdir, None);
}

#[test]
fn from_with_build_arg_override() {
    let text = "ARG RUNTIME=astro-runtime:11.0.0\nFROM ${RUNTIME}\n";
    let dockerfile = parse(text, &args(&[("RUNTIME", "astro-runtime:12.1.0")])).unwrap();
    assert_eq!(dockerfile.from.image, "astro-runtime:12.1.0");
    assert_eq!(
        dockerfile.global_args["RUNTIME"],
        "astro-runtime:12.1.0".to_owned()
    );
}

#[test]
fn undeclared_build_args_do_not_reach_from() {
    let text = "FROM astro-runtime:${TAG:-12.0.0}\n";
    let dockerfile = parse(text, &args(&[("TAG", "99")])).unwrap();
    assert_eq!(dockerfile.from.image, "astro-runtime:12.0.0");
}

#[test]
fn global_args_chain() {
    let text =
        "ARG NAME=astro-runtime\nARG VERSION=12.0.0\nARG IMAGE=$NAME:$VERSION\nFROM $IMAGE\n";
    assert_eq!(
        parse(text, &no_args()).unwrap().from.image,
        "astro-runtime:12.0.0"
    );
}

#[test]
fn from_platform_and_stage_name() {
    let text = "FROM --platform=linux/amd64 astro-runtime:12.0.0 AS Runtime\n";
    let from = parse(text, &no_args()).unwrap().from;
    assert_eq!(from.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(from.stage_name.as_deref(), Some("runtime"));

    let text = "FROM --platform=$TARGETPLATFORM astro-runtime:12.0.0 as base\n";
    let from = parse(text, &no_args()).unwrap().from;
    assert_eq!(from.platform.as_deref(), Some("linux/amd64"));
    assert_eq!(from.stage_name.as_deref(), Some("base"));
}

#[test]
fn from_other_platform_is_refused() {
    let text = "ARG ARCH=arm64\n\nFROM --platform=linux/${ARCH} astro-runtime:12.0.0\n";
    assert_eq!(
        err(text),
        DockerfileError::Platform {
            line: 3,
            platform: "linux/arm64".to_owned()
        }
    );
    assert_eq!(
        err(text).to_string(),
        "Line 3: platform `linux/arm64` is not supported; airlock builds `linux/amd64` only"
    );
}

#[test]
fn from_argument_errors() {
    assert!(matches!(
        err("FROM\n"),
        DockerfileError::Arguments { line: 1, .. }
    ));
    assert!(matches!(
        err("FROM a b\n"),
        DockerfileError::Arguments { line: 1, .. }
    ));
    assert!(matches!(
        err("FROM a AS 1x\n"),
        DockerfileError::Arguments { line: 1, .. }
    ));
    assert!(matches!(
        err("FROM --pull a\n"),
        DockerfileError::UnknownFlag { line: 1, .. }
    ));
    assert!(matches!(
        err("ARG EMPTY\nFROM ${EMPTY}\n"),
        DockerfileError::Arguments { line: 2, .. }
    ));
}

#[test]
fn instructions_before_from_are_refused() {
    assert_eq!(
        err("RUN x\nFROM a\n"),
        DockerfileError::BeforeFrom {
            line: 1,
            instruction: "RUN".to_owned()
        }
    );
    assert_eq!(
        err("\nENV A=1\nFROM a\n"),
        DockerfileError::BeforeFrom {
            line: 2,
            instruction: "ENV".to_owned()
        }
    );
}

#[test]
fn unknown_instruction() {
    let error = err("FROM a\nFOO bar\n");
    assert_eq!(
        error,
        DockerfileError::UnknownInstruction {
            line: 2,
            word: "FOO".to_owned()
        }
    );
    assert_eq!(error.to_string(), "Line 2: unknown instruction `FOO`");
}

#[test]
fn missing_from() {
    assert_eq!(err("# nothing\nARG A=1\n"), DockerfileError::MissingFrom);
    assert_eq!(err(""), DockerfileError::MissingFrom);
    assert_eq!(
        DockerfileError::MissingFrom.to_string(),
        "No `FROM` instruction; a Dockerfile needs at least one"
    );
}

#[test]
fn keywords_are_case_insensitive() {
    let evaluated = eval("from a\nenv A=1\nLabel b=2\nuser astro\nWorkDir /x\n");
    assert_eq!(env_of(&evaluated, "A").as_deref(), Some("1"));
    assert_eq!(evaluated.labels["b"], "2");
    assert_eq!(evaluated.user.as_deref(), Some("astro"));
    assert_eq!(evaluated.workdir.as_deref(), Some("/x"));
}

#[test]
fn continuation_skips_comments_and_blank_lines() {
    let text = "FROM a\nENV A=1 \\\n# a comment\n    # indented comment\n\n    B=2\nUSER x\n";
    let dockerfile = parse(text, &no_args()).unwrap();
    assert_eq!(
        dockerfile.instructions[0],
        Instruction {
            line: 2,
            kind: InstructionKind::Env(vec![
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "2".to_owned())
            ])
        }
    );
    assert_eq!(dockerfile.instructions[1].line, 7);
}

#[test]
fn continuation_with_trailing_whitespace_and_at_eof() {
    let evaluated = eval("FROM a\nLABEL a=1 \\  \n b=2 \\");
    assert_eq!(evaluated.labels["a"], "1");
    assert_eq!(evaluated.labels["b"], "2");
}

#[test]
fn escape_directive_backtick() {
    let text = "# escape=`\nFROM a\nENV P=C:\\dir `\n    Q=x`$y\n";
    let dockerfile = parse(text, &no_args()).unwrap();
    assert_eq!(dockerfile.escape, '`');
    let evaluated = eval(text);
    assert_eq!(env_of(&evaluated, "P").as_deref(), Some("C:\\dir"));
    assert_eq!(env_of(&evaluated, "Q").as_deref(), Some("x$y"));
}

#[test]
fn directives_only_at_the_top() {
    // After a blank line, `# escape=` is an ordinary comment.
    let text = "\n# escape=`\nFROM a\nENV A=1 \\\n  B=2\n";
    let dockerfile = parse(text, &no_args()).unwrap();
    assert_eq!(dockerfile.escape, '\\');
    // After another comment too.
    let text = "# hello\n# escape=`\nFROM a\n";
    assert_eq!(parse(text, &no_args()).unwrap().escape, '\\');
    // Directive names are case-insensitive and may be spaced.
    let text = "#  ESCAPE = `\nFROM a\n";
    assert_eq!(parse(text, &no_args()).unwrap().escape, '`');
}

#[test]
fn directive_errors() {
    assert_eq!(
        err("# escape=x\nFROM a\n"),
        DockerfileError::EscapeDirective {
            line: 1,
            value: "x".to_owned()
        }
    );
    assert_eq!(
        err("# syntax=docker/dockerfile:1\n# syntax=docker/dockerfile:1.7\nFROM a\n"),
        DockerfileError::DuplicateDirective {
            line: 2,
            directive: "syntax".to_owned()
        }
    );
}

#[test]
fn env_quotes_and_escaped_spaces() {
    let evaluated = eval(
        "FROM a\nENV A=\"hello world\" B='single $PATH' C=hello\\ there D=\"say \\\"hi\\\"\"\n",
    );
    assert_eq!(env_of(&evaluated, "A").as_deref(), Some("hello world"));
    assert_eq!(env_of(&evaluated, "B").as_deref(), Some("single $PATH"));
    assert_eq!(env_of(&evaluated, "C").as_deref(), Some("hello there"));
    assert_eq!(env_of(&evaluated, "D").as_deref(), Some("say \"hi\""));
}

#[test]
fn env_legacy_form() {
    let evaluated = eval("FROM a\nENV GREETING hello big   world\nENV Q \"quoted value\"\n");
    assert_eq!(
        env_of(&evaluated, "GREETING").as_deref(),
        Some("hello big   world")
    );
    assert_eq!(env_of(&evaluated, "Q").as_deref(), Some("quoted value"));
}

#[test]
fn env_updates_base_in_place_and_appends() {
    let evaluated = eval_with(
        "FROM a\nENV PATH=/opt/bin:$PATH NEW=1\nENV LANG=C.UTF-8\n",
        &["PATH=/usr/bin", "LANG=en", "HOME=/root"],
        "/",
        &no_args(),
    );
    assert_eq!(
        evaluated.env,
        vec![
            ("PATH".to_owned(), "/opt/bin:/usr/bin".to_owned()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
            ("NEW".to_owned(), "1".to_owned()),
        ]
    );
}

#[test]
fn env_pairs_see_the_environment_from_before_the_instruction() {
    let evaluated = eval("FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n");
    assert_eq!(env_of(&evaluated, "def").as_deref(), Some("hello"));
    assert_eq!(env_of(&evaluated, "ghi").as_deref(), Some("bye"));
}

#[test]
fn substitution_forms() {
    let evaluated = eval(
        "FROM a\n\
             ENV SET=value EMPTY=\n\
             ENV A=${SET} B=${SET:-d} C=${UNSET:-d} D=${EMPTY:-d} E=${EMPTY-d} F=${UNSET-d}\n\
             ENV G=${SET:+alt} H=${UNSET:+alt} I=${EMPTY:+alt} J=${EMPTY+alt}\n\
             ENV K=\\$SET L=\"\\$SET\" M='$SET' N=$UNSET. O=$ P=${UNSET:-${SET}x}\n",
    );
    let expect = [
        ("A", "value"),
        ("B", "value"),
        ("C", "d"),
        ("D", "d"),
        ("E", ""),
        ("F", "d"),
        ("G", "alt"),
        ("H", ""),
        ("I", ""),
        ("J", "alt"),
        ("K", "$SET"),
        ("L", "$SET"),
        ("M", "$SET"),
        ("N", "."),
        ("O", "$"),
        ("P", "valuex"),
    ];
    for (key, value) in expect {
        assert_eq!(env_of(&evaluated, key).as_deref(), Some(value), "{key}");
    }
}

#[test]
fn substitution_errors_name_the_line() {
    let dockerfile = parse("FROM a\n\nENV A=${B\n", &no_args()).unwrap();
    let error = dockerfile
        .evaluate(&BaseValues::default(), &no_args())
        .unwrap_err();
    assert!(matches!(
        error,
        DockerfileError::Substitution { line: 3, .. }
    ));
    assert!(matches!(
        err("ARG X=${Y/a/b}\nFROM a\n"),
        DockerfileError::Substitution { line: 1, .. }
    ));
    let dockerfile = parse("FROM a\nENV A=\"${NEEDED:?set it}\"\n", &no_args()).unwrap();
    let error = dockerfile
        .evaluate(&BaseValues::default(), &no_args())
        .unwrap_err();
    assert_eq!(error.to_string(), "Line 2: variable `NEEDED`: set it");
    assert!(matches!(
        err("FROM \"a\nENV A=1\n").clone(),
        DockerfileError::Substitution { line: 1, .. }
    ));
}

#[test]
fn args_after_from() {
    let text = "ARG TAG=12.0.0\nFROM astro-runtime:$TAG\nARG TAG\nARG EXTRA=x-$TAG\nARG NONE\nENV T=$TAG E=$EXTRA N=${NONE-unset} U=${TAG2-unset}\n";
    let evaluated = eval(text);
    assert_eq!(env_of(&evaluated, "T").as_deref(), Some("12.0.0"));
    assert_eq!(env_of(&evaluated, "E").as_deref(), Some("x-12.0.0"));
    assert_eq!(env_of(&evaluated, "N").as_deref(), Some(""));
    assert_eq!(env_of(&evaluated, "U").as_deref(), Some("unset"));
    // ARGs are not persisted in the image environment.
    assert!(env_of(&evaluated, "TAG").is_none());
}

#[test]
fn pre_from_args_only_apply_to_from() {
    let evaluated = eval("ARG TAG=12.0.0\nFROM a:$TAG\nENV T=x${TAG}x\n");
    assert_eq!(env_of(&evaluated, "T").as_deref(), Some("xx"));
}

#[test]
fn build_args_override_arg_defaults() {
    let text = "FROM a\nARG MODE=dev\nENV MODE_ENV=$MODE\n";
    let evaluated = eval_with(text, &[], "/", &args(&[("MODE", "prod")]));
    assert_eq!(env_of(&evaluated, "MODE_ENV").as_deref(), Some("prod"));
    // A build arg without an `ARG` declaration is not visible.
    let text = "FROM a\nENV MODE_ENV=${MODE:-none}\n";
    let evaluated = eval_with(text, &[], "/", &args(&[("MODE", "prod")]));
    assert_eq!(env_of(&evaluated, "MODE_ENV").as_deref(), Some("none"));
}

#[test]
fn env_wins_over_arg() {
    let evaluated = eval("FROM a\nARG V=from-arg\nENV V=from-env\nENV W=$V\n");
    assert_eq!(env_of(&evaluated, "W").as_deref(), Some("from-env"));
    let evaluated = eval_with(
        "FROM a\nARG HOME=/arg\nENV H=$HOME\n",
        &["HOME=/base"],
        "/",
        &no_args(),
    );
    assert_eq!(env_of(&evaluated, "H").as_deref(), Some("/base"));
}

#[test]
fn automatic_platform_args() {
    let evaluated = eval("FROM a\nARG TARGETARCH\nENV ARCH=$TARGETARCH\n");
    assert_eq!(env_of(&evaluated, "ARCH").as_deref(), Some("amd64"));
}

#[test]
fn workdir_resolution() {
    let cases = [
        ("WORKDIR /opt/app", "/usr/local/airflow", "/opt/app"),
        (
            "WORKDIR sub",
            "/usr/local/airflow",
            "/usr/local/airflow/sub",
        ),
        ("WORKDIR sub\nWORKDIR ../other/", "/base", "/base/other"),
        ("WORKDIR rel", "", "/rel"),
        ("WORKDIR /a//b/./c/", "/", "/a/b/c"),
        ("ENV D=/data\nWORKDIR $D/x", "/", "/data/x"),
        ("WORKDIR ${HOME}/dags", "/", "/home/astro/dags"),
    ];
    for (body, base, expected) in cases {
        let text = format!("FROM a\n{body}\n");
        let evaluated = eval_with(&text, &["HOME=/home/astro"], base, &no_args());
        assert_eq!(evaluated.workdir.as_deref(), Some(expected), "{body}");
    }
}

#[test]
fn user_forms() {
    let evaluated = eval("FROM a\nARG UID=50000\nUSER ${UID}:0\n");
    assert_eq!(evaluated.user.as_deref(), Some("50000:0"));
    let evaluated = eval("FROM a\nUSER root\nUSER astro\n");
    assert_eq!(evaluated.user.as_deref(), Some("astro"));
}

#[test]
fn labels_only_those_set() {
    let evaluated = eval(
        "FROM a\nLABEL a=1 \"b c\"=2\nLABEL legacy some value\nLABEL a=3\nENV V=x\nLABEL v=$V\n",
    );
    let expected: BTreeMap<String, String> = [
        ("a", "3"),
        ("b c", "2"),
        ("legacy", "some value"),
        ("v", "x"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(evaluated.labels, expected);
}

#[test]
fn instruction_argument_errors() {
    let cases = [
        "FROM a\nENV\n",
        "FROM a\nENV A\n",
        "FROM a\nENV A=1 B\n",
        "FROM a\nLABEL\n",
        "FROM a\nUSER\n",
        "FROM a\nWORKDIR   \n",
        "FROM a\nARG\n",
        "FROM a\nARG =x\n",
        "FROM a\nENV =x\n",
    ];
    for text in cases {
        match parse(text, &no_args()) {
            Ok(dockerfile) => {
                let error = dockerfile
                    .evaluate(&BaseValues::default(), &no_args())
                    .unwrap_err();
                assert!(
                    matches!(error, DockerfileError::Arguments { line: 2, .. }),
                    "{text:?}: {error:?}"
                );
            }
            Err(error) => assert!(
                matches!(error, DockerfileError::Arguments { line: 2, .. }),
                "{text:?}: {error:?}"
            ),
        }
    }
    assert_eq!(
        err("FROM a\nENV A=1 B\n").to_string(),
        "Line 2: `ENV` has no `=` in `B`; it must be of the form `name=value`"
    );
    assert!(matches!(
        err("FROM a\nENV --x=1 A=1\n"),
        DockerfileError::UnknownFlag { line: 2, .. }
    ));
}

#[test]
fn raw_words_are_kept_unexpanded() {
    let dockerfile = parse("FROM a\nENV A=\"$B c\" \\\n  D=e\\ f\n", &no_args()).unwrap();
    assert_eq!(
        dockerfile.instructions[0].kind,
        InstructionKind::Env(vec![
            ("A".to_owned(), "\"$B c\"".to_owned()),
            ("D".to_owned(), "e\\ f".to_owned()),
        ])
    );
}

#[test]
fn crlf_and_bom() {
    let evaluated = eval("\u{feff}FROM a\r\nENV A=1 \\\r\n  B=2\r\n");
    assert_eq!(env_of(&evaluated, "A").as_deref(), Some("1"));
    assert_eq!(env_of(&evaluated, "B").as_deref(), Some("2"));
}

#[test]
fn indented_instructions_and_comments() {
    let evaluated = eval("   # comment\n  FROM a\n\t ENV A 1 # not a comment\n");
    assert_eq!(
        env_of(&evaluated, "A").as_deref(),
        Some("1 # not a comment")
    );
    // As in Docker, a `#` after `key=value` words is a word without `=`.
    assert!(matches!(
        err("FROM a\nENV A=1 # no\n"),
        DockerfileError::Arguments { line: 2, .. }
    ));
}

fn step_kinds(evaluated: &Evaluated) -> Vec<&FsStepKind> {
    evaluated.steps.iter().map(|s| &s.kind).collect()
}

fn copy_of(step: &FsStep) -> &CopySpec {
    match &step.kind {
        FsStepKind::Copy(spec) => spec,
        other => panic!("not a copy: {other:?}"),
    }
}

#[test]
fn every_instruction_parses_with_its_flags() {
    let text = r#"# syntax=docker/dockerfile:1.7
FROM astro-runtime:12.0.0
MAINTAINER someone <a@b.c>
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY --chown=astro:0 --chmod=750 --link --exclude=*.pyc scripts/ /usr/local/airflow/scripts/
ADD --checksum=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef http://127.0.0.1/x.tgz /opt/
RUN --mount=type=secret,id=token,target=/run/secrets/t,required=true,env=TOKEN --mount=type=cache,target=/root/.cache/pip,sharing=locked --network=none pip install x
RUN ["echo", "hi"]
CMD ["airflow", "standalone"]
ENTRYPOINT ["/entrypoint"]
EXPOSE 8080 53/udp 9000-9002
VOLUME ["/data", "/logs"]
VOLUME /cache
HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=2s --retries=3 CMD curl -f http://127.0.0.1/
STOPSIGNAL SIGINT
ONBUILD COPY . /app
"#;
    let dockerfile = parse(text, &no_args()).unwrap();
    let kinds: Vec<&InstructionKind> = dockerfile.instructions.iter().map(|i| &i.kind).collect();
    assert_eq!(kinds.len(), 14);
    assert_eq!(
        *kinds[0],
        InstructionKind::Maintainer("someone <a@b.c>".into())
    );
    let InstructionKind::Copy(copy) = kinds[2] else {
        panic!("{:?}", kinds[2])
    };
    assert_eq!(copy.chown.as_deref(), Some("astro:0"));
    assert_eq!(copy.chmod, Some(0o750));
    assert!(copy.link);
    assert_eq!(copy.exclude, vec!["*.pyc".to_owned()]);
    assert_eq!(copy.sources, vec!["scripts/".to_owned()]);
    let InstructionKind::Run(run) = kinds[4] else {
        panic!("{:?}", kinds[4])
    };
    assert_eq!(run.network, RunNetwork::None);
    assert_eq!(
        run.mounts,
        vec![
            RunMount::Secret {
                id: "token".into(),
                target: Some("/run/secrets/t".into()),
                required: true,
                env: Some("TOKEN".into()),
            },
            RunMount::Cache {
                target: "/root/.cache/pip".into(),
                id: None,
                sharing: "locked".into(),
            },
        ]
    );
    assert_eq!(run.command, RunCommand::Shell("pip install x".into()));
    let InstructionKind::Healthcheck(Some(health)) = kinds[11] else {
        panic!("{:?}", kinds[11])
    };
    assert_eq!(health.interval, Some(30_000_000_000));
    assert_eq!(health.timeout, Some(90_000_000_000));
    assert_eq!(health.start_period, Some(500_000_000));
    assert_eq!(health.start_interval, Some(2_000_000_000));
    assert_eq!(health.retries, Some(3));

    let base = BaseValues {
        env: vec!["PATH=/usr/bin".into()],
        workdir: "/usr/local/airflow".into(),
        user: Some("astro".into()),
        shell: None,
    };
    let evaluated = dockerfile.evaluate(&base, &no_args()).unwrap();
    assert_eq!(evaluated.changes.author.as_deref(), Some("someone <a@b.c>"));
    assert_eq!(
        evaluated.changes.cmd,
        Change::Set(vec!["airflow".into(), "standalone".into()])
    );
    assert_eq!(
        evaluated.changes.entrypoint,
        Change::Set(vec!["/entrypoint".into()])
    );
    let ports: Vec<&str> = evaluated
        .changes
        .exposed_ports
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        ports,
        ["53/udp", "8080/tcp", "9000/tcp", "9001/tcp", "9002/tcp"]
    );
    let volumes: Vec<&str> = evaluated
        .changes
        .volumes
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(volumes, ["/cache", "/data", "/logs"]);
    assert_eq!(evaluated.changes.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(evaluated.changes.onbuild, vec!["COPY . /app".to_owned()]);
    assert_eq!(
        evaluated.changes.shell,
        Some(vec![
            "/bin/bash".into(),
            "-o".into(),
            "pipefail".into(),
            "-c".into()
        ])
    );
    // Four filesystem steps, each with the state where it stands.
    assert_eq!(evaluated.steps.len(), 4);
    let copy = copy_of(&evaluated.steps[0]);
    assert_eq!(copy.dest, "/usr/local/airflow/scripts/");
    assert_eq!(copy.chmod, Some(0o750));
    let add = copy_of(&evaluated.steps[1]);
    assert!(add.add);
    assert_eq!(add.dest, "/opt/");
    assert!(add.checksum.as_deref().unwrap().starts_with("sha256:0123"));
    let run = &evaluated.steps[2];
    assert_eq!(run.line, 7);
    assert_eq!(run.state.shell[0], "/bin/bash");
    assert_eq!(run.state.user.as_deref(), Some("astro"));
    assert_eq!(run.state.workdir, "/usr/local/airflow");
    assert_eq!(run.created_by, "RUN /bin/bash -o pipefail -c pip install x");
    // One history line per instruction.
    assert_eq!(evaluated.history.len(), 14);
    assert_eq!(
        evaluated.history[6].created_by,
        r#"CMD ["airflow" "standalone"]"#
    );
    assert_eq!(evaluated.history[2].step, Some(0));
}

#[test]
fn entrypoint_resets_the_base_cmd_unless_a_cmd_came_first() {
    let evaluated = eval("FROM a\nENTRYPOINT [\"/e\"]\n");
    assert_eq!(evaluated.changes.cmd, Change::Reset);
    let evaluated = eval("FROM a\nCMD [\"x\"]\nENTRYPOINT /e --flag\n");
    assert_eq!(evaluated.changes.cmd, Change::Set(vec!["x".into()]));
    assert_eq!(
        evaluated.changes.entrypoint,
        Change::Set(vec!["/bin/sh".into(), "-c".into(), "/e --flag".into()])
    );
    let evaluated = eval("FROM a\nENTRYPOINT [\"/e\"]\nCMD [\"y\"]\n");
    assert_eq!(evaluated.changes.cmd, Change::Set(vec!["y".into()]));
    // The shell form takes the SHELL in force, the base's when it sets one.
    let dockerfile = parse("FROM a\nCMD echo hi\n", &no_args()).unwrap();
    let base = BaseValues {
        shell: Some(vec!["/bin/bash".into(), "-c".into()]),
        ..BaseValues::default()
    };
    let evaluated = dockerfile.evaluate(&base, &no_args()).unwrap();
    assert_eq!(
        evaluated.changes.cmd,
        Change::Set(vec!["/bin/bash".into(), "-c".into(), "echo hi".into()])
    );
}

#[test]
fn healthcheck_none_and_stop_signal() {
    let evaluated = eval("FROM a\nHEALTHCHECK NONE\nSTOPSIGNAL ${SIG:-SIGQUIT}\n");
    assert_eq!(evaluated.changes.healthcheck, Some(None));
    assert_eq!(evaluated.changes.stop_signal.as_deref(), Some("SIGQUIT"));
    let evaluated = eval("FROM a\nHEALTHCHECK CMD [\"true\"]\n");
    let Some(Some(spec)) = evaluated.changes.healthcheck else {
        panic!()
    };
    assert_eq!(spec.test, RunCommand::Exec(vec!["true".into()]));
}

#[test]
fn steps_carry_the_state_where_they_stand() {
    let text = "FROM a\nARG V=1\nENV A=x\nUSER root\nWORKDIR sub\nCOPY --chown=${A} f* ./\nUSER astro\nENV A=y\nRUN echo $A\n";
    let evaluated = eval(text);
    let kinds = step_kinds(&evaluated);
    assert_eq!(kinds.len(), 3);
    assert_eq!(
        *kinds[0],
        FsStepKind::Workdir("/usr/local/airflow/sub".into())
    );
    let copy = copy_of(&evaluated.steps[1]);
    assert_eq!(copy.chown.as_deref(), Some("x"));
    assert_eq!(copy.sources, vec!["f*".to_owned()]);
    assert_eq!(copy.dest, "/usr/local/airflow/sub/");
    assert_eq!(evaluated.steps[1].state.user.as_deref(), Some("root"));
    let run = &evaluated.steps[2];
    assert_eq!(run.state.user.as_deref(), Some("astro"));
    assert_eq!(run.state.args.get("V").map(String::as_str), Some("1"));
    assert!(run.state.env.contains(&("A".to_owned(), "y".to_owned())));
    assert_eq!(run.state.workdir, "/usr/local/airflow/sub");
    // The RUN command is not substituted: the shell does that.
    assert_eq!(
        run.kind,
        FsStepKind::Run(RunSpec {
            command: RunCommand::Shell("echo $A".into()),
            mounts: Vec::new(),
            network: RunNetwork::Default,
        })
    );
    // `WORKDIR /` makes no step.
    assert!(eval("FROM a\nWORKDIR /\n").steps.is_empty());
}

#[test]
fn copy_destinations_follow_docker_rules() {
    let dest = |text: &str| copy_of(&eval(text).steps[0]).dest.clone();
    assert_eq!(dest("FROM a\nCOPY a .\n"), "/usr/local/airflow/");
    assert_eq!(dest("FROM a\nCOPY a b\n"), "/usr/local/airflow/b");
    assert_eq!(dest("FROM a\nCOPY a /x/../y/\n"), "/y/");
    assert_eq!(dest("FROM a\nCOPY [\"a b\", \"/c d/\"]\n"), "/c d/");
    assert_eq!(dest("FROM a\nCOPY a /\n"), "/");
    let error = err_eval("FROM a\nCOPY a b c\n");
    assert!(
        matches!(&error, DockerfileError::Arguments { line: 2, message, .. } if message.contains("must be a directory ending with `/`")),
        "{error}"
    );
}

fn err_eval(text: &str) -> DockerfileError {
    parse(text, &no_args())
        .unwrap()
        .evaluate(&BaseValues::default(), &no_args())
        .unwrap_err()
}

#[test]
fn multi_stage_copy_from_earlier_stages() {
    let text = "ARG IMG=builder-image:1\nFROM ${IMG} AS Build\nRUN make\nFROM other:2 AS second\nCOPY --from=build /out /out\nFROM runtime:3\nCOPY --from=build /out/a /a\nCOPY --from=1 /b /b\nCOPY --from=tools.example/img:1 /c /c\n";
    let dockerfile = parse(text, &no_args()).unwrap();
    assert_eq!(dockerfile.stages.len(), 2);
    assert_eq!(dockerfile.stages[0].from.image, "builder-image:1");
    assert_eq!(
        dockerfile.stages[0].from.stage_name.as_deref(),
        Some("build")
    );
    assert_eq!(dockerfile.from.image, "runtime:3");
    let froms: Vec<Option<CopyFrom>> = dockerfile
        .instructions
        .iter()
        .map(|i| match &i.kind {
            InstructionKind::Copy(c) => c.from.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        froms,
        vec![
            Some(CopyFrom::Stage(0)),
            Some(CopyFrom::Stage(1)),
            Some(CopyFrom::Image("tools.example/img:1".into()))
        ]
    );
    let InstructionKind::Copy(copy) = &dockerfile.stages[1].instructions[0].kind else {
        panic!()
    };
    assert_eq!(copy.from, Some(CopyFrom::Stage(0)));
    let stage = dockerfile
        .evaluate_stage(0, &BaseValues::default(), &no_args())
        .unwrap();
    assert_eq!(stage.steps.len(), 1);
}

#[test]
fn hostile_stage_references_are_refused() {
    // A name no stage has, and that is no image reference.
    let error = err("FROM a\nCOPY --from=nope /x /x\n");
    assert_eq!(
        error,
        DockerfileError::UnknownStage {
            line: 2,
            name: "nope".into()
        }
    );
    // A later stage: refused, so stages never form a cycle.
    let error = err("FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\nCOPY --from=one /y /y\n");
    assert_eq!(
        error,
        DockerfileError::LaterStage {
            line: 2,
            name: "two".into(),
            stage_line: 3
        }
    );
    // The stage itself, by name or by index.
    assert!(matches!(
        err("FROM a AS self\nCOPY --from=self /x /x\n"),
        DockerfileError::LaterStage { line: 2, .. }
    ));
    assert!(matches!(
        err("FROM a\nCOPY --from=0 /x /x\n"),
        DockerfileError::LaterStage { line: 2, .. }
    ));
    assert!(matches!(
        err("FROM a\nCOPY --from=7 /x /x\n"),
        DockerfileError::UnknownStage { line: 2, .. }
    ));
    // Stage names used twice, and a stage built on a stage.
    assert_eq!(
        err("FROM a AS x\nFROM b AS X\n"),
        DockerfileError::DuplicateStage {
            line: 2,
            name: "x".into(),
            first: 1
        }
    );
    assert!(matches!(
        err("FROM a AS x\nFROM x\n"),
        DockerfileError::FromStage { line: 2, .. }
    ));
}

#[test]
fn hostile_flags_and_forms_are_refused() {
    let cases: &[(&str, &str)] = &[
        ("FROM a\nCOPY --chown a b\n", "needs a value for `--chown`"),
        ("FROM a\nCOPY --chmod=u+x a b\n", "octal mode"),
        ("FROM a\nCOPY --chmod=99999 a b\n", "octal mode"),
        ("FROM a\nCOPY --link=maybe a b\n", "`true` or `false`"),
        ("FROM a\nCOPY --parents a b/\n", "not supported"),
        ("FROM a\nADD --keep-git-dir a b\n", "not supported"),
        ("FROM a\nCOPY onlyone\n", "at least two arguments"),
        ("FROM a\nCOPY [\"a\", \"b\"\n", "malformed JSON"),
        ("FROM a\nCMD [\"a\", 1]\n", "malformed JSON"),
        ("FROM a\nRUN [\"unterminated\n", "malformed JSON"),
        ("FROM a\nSHELL /bin/bash -c\n", "requires the JSON form"),
        ("FROM a\nSHELL []\n", "requires the JSON form"),
        ("FROM a\nRUN --network=host curl x\n", "`--network=host`"),
        (
            "FROM a\nRUN --network=bridge curl x\n",
            "`default` or `none`",
        ),
        (
            "FROM a\nRUN --mount=type=bind,target=/x make\n",
            "`type=secret` and `type=cache`",
        ),
        ("FROM a\nRUN --mount=target=/x make\n", "`type=bind`"),
        ("FROM a\nRUN --mount=type=cache make\n", "needs a `target`"),
        ("FROM a\nRUN --mount=type=secret make\n", "needs an `id`"),
        (
            "FROM a\nRUN --mount=type=cache,target=/x,sharing=odd make\n",
            "sharing=odd",
        ),
        (
            "FROM a\nRUN --mount=type=cache,target=/x,uid=5 make\n",
            "mount option `uid`",
        ),
        (
            "FROM a\nRUN --mount=type=cache,target=/x,target=/y make\n",
            "twice",
        ),
        ("FROM a\nRUN --security=insecure make\n", "sandbox"),
        ("FROM a\nRUN\n", "at least one argument"),
        (
            "FROM a\nHEALTHCHECK --interval=soon CMD x\n",
            "not a duration",
        ),
        ("FROM a\nHEALTHCHECK --retries=x CMD x\n", "not a number"),
        (
            "FROM a\nHEALTHCHECK NONE extra\n",
            "`NONE` takes no other arguments",
        ),
        ("FROM a\nHEALTHCHECK curl x\n", "`NONE` or `CMD`"),
        ("FROM a\nSTOPSIGNAL A B\n", "exactly one argument"),
        (
            "FROM a\nONBUILD ONBUILD RUN x\n",
            "can not trigger `ONBUILD`",
        ),
        ("FROM a\nONBUILD FROM x\n", "can not trigger `FROM`"),
        ("FROM a\nONBUILD\n", "requires an instruction"),
        ("FROM a\nVOLUME [\"\"]\n", "non-empty path"),
    ];
    for (text, needle) in cases {
        let error = err(text);
        let message = error.to_string();
        assert!(message.starts_with("Line 2: "), "{text:?}: {message}");
        assert!(message.contains(needle), "{text:?}: {message}");
    }
    let unknown = [
        ("FROM a\nCOPY --checksum=sha256:00 a b\n", "checksum"),
        ("FROM a\nADD --from=x a b\n", "from"),
        ("FROM a\nRUN --privileged x\n", "privileged"),
        ("FROM a\nCMD --help\n", "help"),
        ("FROM a\nONBUILD RUN --bad x\n", "bad"),
    ];
    for (text, flag) in unknown {
        assert!(
            matches!(err(text), DockerfileError::UnknownFlag { line: 2, flag: f, .. } if f == flag),
            "{text:?}"
        );
    }
    // Evaluation-time checks name their line too.
    let cases: &[(&str, &str)] = &[
        ("FROM a\nEXPOSE 80/xyz\n", "invalid port"),
        ("FROM a\nEXPOSE 70000\n", "invalid port"),
        ("FROM a\nEXPOSE 90-80\n", "invalid port"),
        ("FROM a\nSTOPSIGNAL \"\"\n", "invalid signal"),
        (
            "FROM a\nADD --checksum=md5:abc http://127.0.0.1/x /x\n",
            "64 hex digits",
        ),
        ("FROM a\nCOPY $NOTHING /x\n", "expands to nothing"),
    ];
    for (text, needle) in cases {
        let message = err_eval(text).to_string();
        assert!(message.starts_with("Line 2: "), "{text:?}: {message}");
        assert!(message.contains(needle), "{text:?}: {message}");
    }
}

#[test]
fn heredocs_pyenv_and_other_frontends_are_refused_naming_the_line() {
    let error = err("FROM a\nENV A=1\nRUN <<EOF\necho hi\nEOF\n");
    assert_eq!(
        error,
        DockerfileError::Heredoc {
            line: 3,
            instruction: "RUN".into(),
            word: "EOF".into()
        }
    );
    assert!(matches!(
        err("FROM a\nCOPY <<-'END' /x\n"),
        DockerfileError::Heredoc { line: 2, .. }
    ));
    assert!(matches!(
        err("FROM a\nRUN cat <<EOF > /x\n"),
        DockerfileError::Heredoc { line: 2, .. }
    ));
    // A here-string and a shift are no heredoc.
    assert!(parse("FROM a\nRUN cat <<< hi && echo $((1<<2))\n", &no_args()).is_ok());

    let error = err("FROM a\nUSER astro\nPYENV 3.8 snowpark requirements-snowpark.txt\n");
    assert_eq!(error, DockerfileError::Pyenv { line: 3 });
    assert!(error.to_string().starts_with("Line 3: `PYENV`"));

    let error = err("# syntax=astronomer/astro-runtime-frontend:1\nFROM a\n");
    assert_eq!(
        error,
        DockerfileError::Frontend {
            line: 1,
            syntax: "astronomer/astro-runtime-frontend:1".into()
        }
    );
    assert!(
        error
            .to_string()
            .starts_with("Line 1: the Dockerfile asks for the frontend")
    );
    for ok in [
        "docker/dockerfile",
        "docker/dockerfile:1",
        "docker/dockerfile:1.7-labs",
        "mirror.example:5000/docker/dockerfile:1@sha256:00",
    ] {
        assert!(
            parse(&format!("# syntax={ok}\nFROM a\n"), &no_args()).is_ok(),
            "{ok}"
        );
    }
    for bad in [
        "docker/dockerfile-upstream:1",
        "evil/dockerfile:1",
        "dockerfile",
    ] {
        assert!(
            matches!(
                err(&format!("#syntax={bad}\nFROM a\n")),
                DockerfileError::Frontend { line: 1, .. }
            ),
            "{bad}"
        );
    }
    // Not a directive once an instruction came: an ordinary comment.
    assert!(parse("FROM a\n# syntax=other/frontend\n", &no_args()).is_ok());
}

#[test]
fn go_durations() {
    use super::instructions::go_duration;
    assert_eq!(go_duration("0"), Some(0));
    assert_eq!(go_duration("1h2m3s"), Some(3_723_000_000_000));
    assert_eq!(go_duration("1.5s"), Some(1_500_000_000));
    assert_eq!(go_duration("10us"), Some(10_000));
    assert_eq!(go_duration(""), None);
    assert_eq!(go_duration("5"), None);
    assert_eq!(go_duration("5x"), None);
    assert_eq!(go_duration("s"), None);
}
