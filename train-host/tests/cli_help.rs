//! The CLI's help reads as one program: subcommands in pipeline order, no option with two defaults, one flag
//! name per kind of path (the old spellings still parse), choices listed with their values.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_electra")).args(args).arg("--help").output().expect("run electra");
    assert!(out.status.success(), "electra {args:?} --help failed");
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// The subcommands in the order data flows through them (corpus → shards → pre-training → fine-tuning → export
/// → inference), after the one-command demo.
const PIPELINE_ORDER: [&str; 11] = [
    "quickstart",
    "tokenize",
    "shard",
    "pretrain",
    "eval",
    "finetune",
    "evaluate",
    "export",
    "inspect",
    "infer",
    "bench-infer",
];

#[test]
fn subcommands_are_listed_in_pipeline_order() {
    let text = help(&[]);
    let listed: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert_eq!(listed, PIPELINE_ORDER);
}

#[test]
fn no_option_shows_two_defaults() {
    for command in PIPELINE_ORDER {
        for line in help(&[command]).lines() {
            assert!(line.matches("[default:").count() <= 1, "electra {command} --help: {line}");
        }
    }
}

/// The long options a help text lists (`--name`), in order.
fn long_options(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = if line.starts_with('-') && !line.starts_with("--") { line.get(4..)? } else { line };
            let name = line.strip_prefix("--")?;
            let name: String = name.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            (!name.is_empty()).then(|| format!("--{name}"))
        })
        .collect()
}

/// Each kind of path has one flag name (README "CLI grammar"; `electra --help` prints it): which subcommands take it.
const GRAMMAR: [(&str, &[&str]); 6] = [
    ("--out", &["quickstart", "tokenize", "shard", "pretrain", "finetune", "evaluate", "export", "infer"]),
    ("--corpus", &["quickstart", "shard"]),
    ("--data", &["pretrain", "eval"]),
    ("--train", &["quickstart", "finetune"]),
    ("--dev", &["finetune", "evaluate"]),
    ("--input", &["tokenize", "infer"]),
];

/// Spellings retired by the grammar: hidden aliases now, never listed.
const RETIRED: [&str; 3] = ["--output", "--predictions", "--reviews"];

#[test]
fn every_subcommand_names_each_kind_of_path_one_way() {
    let top = help(&[]);
    assert!(top.contains("CLI grammar"), "electra --help prints the grammar:\n{top}");
    for command in PIPELINE_ORDER {
        let options = long_options(&help(&[command]));
        assert!(options.contains(&"--help".to_string()), "electra {command} --help: no options parsed: {options:?}");
        for retired in RETIRED {
            assert!(!options.iter().any(|o| o == retired), "electra {command} --help lists {retired}");
        }
        for (flag, takers) in GRAMMAR {
            assert_eq!(
                options.iter().any(|o| o == flag),
                takers.contains(&command),
                "electra {command}: {flag} should be taken by exactly {takers:?}"
            );
        }
    }
}

#[test]
fn the_old_spellings_still_parse() {
    // `--help` after them: clap reads them first, so an unknown one fails before help is printed.
    for (command, old) in [
        ("shard", &["--input", "corpus", "--output", "shards"][..]),
        ("tokenize", &["--output", "ids.jsonl"]),
        ("infer", &["--output", "logits.jsonl"]),
        ("evaluate", &["--data", "dev.tsv", "--predictions", "predictions.jsonl"]),
        ("quickstart", &["--reviews", "reviews.jsonl"]),
    ] {
        let mut args = vec![command];
        args.extend_from_slice(old);
        help(&args);
    }
}

#[test]
fn choices_list_their_values() {
    for (command, flag, values) in [
        ("finetune", "--task", &["sst2", "custom"][..]),
        ("finetune", "--recipe", &["electra"]),
        ("evaluate", "--task", &["sst2", "tagging"]),
        ("infer", "--gemm", &["gemm", "matrixmultiply"]),
        ("bench-infer", "--gemm", &["gemm", "matrixmultiply"]),
        ("export", "--weights", &["int8", "int4"]),
        ("export", "--embeddings", &["int8", "int4"]),
    ] {
        let text = help(&[command]);
        // The option's entry: from its line to the next option's.
        let start = text
            .find(&format!("      {flag} "))
            .or_else(|| text.find(&format!(" {flag} ")))
            .unwrap_or_else(|| panic!("electra {command} --help has no {flag}:\n{text}"));
        let rest = &text[start..];
        let end = rest[flag.len() + 6..].find("\n  -").map_or(rest.len(), |i| i + flag.len() + 6);
        let entry = &rest[..end];
        assert!(entry.contains("Possible values") || entry.contains("possible values"), "{command} {flag}: {entry}");
        for value in values {
            assert!(entry.contains(value), "electra {command} --help, {flag}: no `{value}` in\n{entry}");
        }
    }
}
