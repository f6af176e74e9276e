"""Built-in templates: the seed's two forms (corrected example) and a generic chat template.

The seed's templates hard-code the first turn and insert only the new user text; they name that
variable `input` (Handlebars) and `user` (f-string), and `template_variables` provides both.
"""

from __future__ import annotations

SEED_HANDLEBARS = """\
{{#message role="user"}}
    Which movie is the best?
{{/message}}

{{#message role="assistant"}}
    It's Die Hard for sure.
{{/message}}

{{#message role="user"}}
    {{input}}
{{/message}}
"""

SEED_FSTRING = """\
<message role="user">
    Which movie is the best?
</message>

<message role="assistant">
    It's Die Hard for sure.
</message>

<message role="user">
    {user}
</message>
"""

# Renders any conversational payload: optional system message, the history, the new user text.
CHAT_HANDLEBARS = """\
{{#if system}}
{{#message role="system"}}
{{system}}
{{/message}}
{{/if}}
{{#each history}}
{{#message role=role}}
{{content}}
{{/message}}
{{/each}}
{{#message role="user"}}
{{text}}
{{/message}}
"""

# The f-string form cannot loop, so its generic template covers a conversation without history.
CHAT_FSTRING = """\
<message role="user">
{user}
</message>
"""

# Nor can it test a variable: with a system message, `builtin_template` picks this variant.
CHAT_FSTRING_SYSTEM = """\
<message role="system">
{system}
</message>
<message role="user">
{user}
</message>
"""

BUILTIN_TEMPLATES: dict[str, dict[str, str]] = {
    "seed": {"handlebars": SEED_HANDLEBARS, "fstring": SEED_FSTRING},
    "chat": {"handlebars": CHAT_HANDLEBARS, "fstring": CHAT_FSTRING},
}


def builtin_template(name: str, form: str, system: bool = False) -> str:
    """The built-in template `name` in `form`; for `chat` in f-string form, the variant that writes
    the system message when there is one. The seed's templates stay as the seed wrote them."""
    if name == "chat" and form == "fstring" and system:
        return CHAT_FSTRING_SYSTEM
    return BUILTIN_TEMPLATES[name][form]


# The seed's example, corrected (see SPEC_NOTES): "best?" without the space, "Can you explain why?".
SEED_PAYLOAD = {
    "inputs": {
        "past_user_inputs": ["Which movie is the best?"],
        "generated_responses": ["It's Die Hard for sure."],
        "text": "Can you explain why?",
    }
}

SEED_REPLY = (
    "As an AI, I don't have personal opinions. However, many people enjoy \"Die Hard\" because it's "
    "considered a classic action film. It has a compelling plot, a charismatic performance by Bruce "
    "Willis, memorable lines, and intense action sequences. It's also known for its Christmas setting, "
    "which has sparked a long-running debate about whether it qualifies as a Christmas movie."
)
