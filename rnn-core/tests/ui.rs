//! One compile-fail test per `recurrent!` diagnostic (the `.stderr` files are the expected
//! messages, spanned on the user's tokens), and expansions that must compile.

#[test]
fn diagnostics() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
