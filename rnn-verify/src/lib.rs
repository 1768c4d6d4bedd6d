//! Verification of recurrent cells by property (THEORY.md P1–P11). Grows in later work.
#![forbid(unsafe_code)]
