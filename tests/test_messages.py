"""Messages are templates with parameters until they are shown."""

from django.utils import translation

from dbkeeper.errors import BackupRejected
from dbkeeper.messages import Message, N_, Np_, render_stored


def test_a_message_renders_its_parameters_in_english_and_survives_json():
    inner = Message(N_("the table of contents"))
    message = Message(N_("The dump is truncated: it ends inside %(what)s."), {"what": inner})
    assert message.english() == "The dump is truncated: it ends inside the table of contents."
    assert Message.from_json(message.to_json()) == message
    assert str(Message.from_json(message.to_json())) == message.english()


def test_a_message_is_rendered_in_the_active_language_with_its_nested_phrases():
    message = Message(N_("The dump is truncated: it ends inside %(what)s."), {"what": Message(N_("the table of contents"))})
    with translation.override("ar"):
        arabic = message.render()
        phrase = Message(N_("the table of contents")).render()
    assert arabic != message.english()
    assert phrase in arabic and phrase != "the table of contents"


def test_plurals_choose_their_form_by_count():
    message = Np_("%(count)s table", "%(count)s tables")
    assert Message(message, {"count": 1}).english() == "1 table"
    assert Message(message, {"count": 4}).english() == "4 tables"
    data = Message(message, {"count": 4}).to_json()
    assert Message.from_json(data).english() == "4 tables"


def test_an_error_keeps_template_params_and_code():
    error = BackupRejected(N_("The backup file %(name)s does not exist."), params={"name": "x.dump"})
    assert error.message == str(error) == "The backup file x.dump does not exist."
    assert error.sentence.template == "The backup file %(name)s does not exist."
    assert error.params == {"name": "x.dump"} and error.code == "backup_rejected"


def test_a_template_with_a_percent_sign_and_no_params_is_left_alone():
    assert Message("100% done").english() == "100% done"


def test_stored_text_without_data_is_still_translated_when_it_is_a_fixed_sentence():
    assert render_stored(None, "") == ""
    with translation.override("ar"):
        assert render_stored(None, "The live database was not changed.") != "The live database was not changed."
        assert render_stored(None, "Something nobody translated.") == "Something nobody translated."
