//! Forward records keep what backward reads consistent with what forward computed: their fields
//! cannot be edited (each of these edits made a backward pass panic before).

#[test]
fn forward_records_cannot_be_edited() {
    trybuild::TestCases::new().compile_fail("tests/records/*.rs");
}
