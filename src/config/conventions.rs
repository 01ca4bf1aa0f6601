//! The frontend conventions (docs/frontends.md): response shapes and
//! PUT's meaning. They need nothing else, so `todo-api openapi` describes
//! the shape in force from these alone.

use super::*;

/// How response bodies are shaped and what PUT means.
#[derive(clap::Args, Debug, Clone)]
pub struct ConventionSettings {
    /// Field names of response bodies: snake (seeds) or camel (docs/frontends.md).
    #[arg(long, global = true, env = "JSON_CASE", value_enum, ignore_case = true, default_value_t = JsonCase::Snake)]
    pub json_case: JsonCase,
    /// Response envelope: none (seeds), named ({tasks, total, …}, {task}) or data ({data: …}).
    #[arg(long, global = true, env = "RESPONSE_ENVELOPE", value_enum, ignore_case = true, default_value_t = Envelope::None)]
    pub response_envelope: Envelope,
    /// PUT: replace (seed 001) or merge (as PATCH).
    #[arg(long, global = true, env = "PUT_SEMANTICS", value_enum, ignore_case = true, default_value_t = PutSemantics::Replace)]
    pub put_semantics: PutSemantics,
    /// Task bodies also carry `is_completed` (= `completed`).
    #[arg(long, global = true, env = "RESPONSE_IS_COMPLETED", default_value_t = false, action = clap::ArgAction::Set)]
    pub response_is_completed: bool,
    /// DELETE answers: empty (204) or json (200 with a body).
    #[arg(long, global = true, env = "DELETE_RESPONSE", value_enum, ignore_case = true, default_value_t = DeleteResponse::Empty)]
    pub delete_response: DeleteResponse,
}

impl ConventionSettings {
    pub fn resolve(&self) -> Conventions {
        Conventions {
            json_case: self.json_case,
            envelope: self.response_envelope,
            put: self.put_semantics,
            is_completed: self.response_is_completed,
            delete: self.delete_response,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_seeds_shapes() {
        let c = Settings::default().conventions.resolve();
        assert_eq!(
            (c.json_case, c.envelope, c.put, c.is_completed, c.delete),
            (
                JsonCase::Snake,
                Envelope::None,
                PutSemantics::Replace,
                false,
                DeleteResponse::Empty
            )
        );
    }
}
