//! The CLI's help reads as one program: subcommands in pipeline order, no option with two defaults.

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
