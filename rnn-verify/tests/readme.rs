//! The README's Rust blocks are compiled and run as doctests (`rnn_verify::ReadmeDoctests`);
//! this checks that what a reader copies from the rendered page is what the doctests compile:
//! no line hidden by rustdoc's `# ` prefix.

#[test]
fn readme_rust_blocks_hide_no_lines() {
    let readme = include_str!("../../README.md");
    let mut in_rust = false;
    let mut blocks = 0;
    let mut hidden = Vec::new();
    for (number, line) in readme.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(fence) = trimmed.strip_prefix("```") {
            in_rust = !in_rust && fence.trim() == "rust";
            blocks += usize::from(in_rust);
            continue;
        }
        if in_rust && (trimmed == "#" || trimmed.starts_with("# ")) {
            hidden.push(format!("README.md:{}: {line}", number + 1));
        }
    }
    assert!(
        blocks >= 3,
        "expected the README's Rust examples, found {blocks} blocks"
    );
    assert!(
        hidden.is_empty(),
        "lines hidden from the rendered page:\n{}",
        hidden.join("\n")
    );
}
