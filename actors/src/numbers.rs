//! TEMPORARY stand-in until the numbers branch lands.
pub fn validate_allowed(allowed: &[String]) -> Result<(), String> {
    for a in allowed {
        if !["US", "CA"].iter().any(|c| c.eq_ignore_ascii_case(a.trim())) {
            return Err(format!("'{a}' is not supported; use \"US\" and/or \"CA\""));
        }
    }
    Ok(())
}

pub struct NumberBlock {
    pub rule: &'static str,
    pub reason: String,
}

pub fn texting_check(_phone: &crate::phone::Phone, _allowed: &[String]) -> Result<(), NumberBlock> {
    Ok(())
}
