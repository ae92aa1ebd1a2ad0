"""The language of recognised text (engine/recognize/language.py), measured on a fixed set of sentences in
the 25 languages of Parakeet v3 (written for this test: four everyday sentences of 8 to 16 words
in each), and carried into what the user sees: the file window's JSON export, the history,
verbose_json. The committed speech models know English only, so the places past the identifier
are fed a stand-in model output (a transcript in another language) rather than speech."""

from __future__ import annotations

import json
import logging

import pytest

from parakeet_desktop import export
from parakeet_desktop.engine.model.registry import LANGUAGE_NAMES
from parakeet_desktop.engine.recognize.language import identify, language_of, unsupported
from parakeet_desktop.engine.recognize.transcript import Segment, Transcript, Word
from parakeet_desktop.history.store import History
from parakeet_desktop.service import formats

SENTENCES = {
    "bg": ["Утре сутринта ще отидем на пазара да купим пресни зеленчуци и плодове.",
           "Моля, изпратете ми отчета до края на седмицата, защото срещата е в понеделник.",
           "Времето днес е много хубаво и децата играят в парка до късно.",
           "Не мога да намеря ключовете си, може би съм ги оставил в колата."],
    "cs": ["Zítra ráno půjdeme na trh koupit čerstvou zeleninu a ovoce pro celou rodinu.",
           "Prosím, pošlete mi zprávu do konce týdne, protože schůzka je v pondělí.",
           "Dnes je velmi hezké počasí a děti si hrají v parku až do večera.",
           "Nemůžu najít své klíče, možná jsem je nechal v autě před domem."],
    "da": ["I morgen tidlig skal vi på markedet for at købe friske grøntsager og frugt.",
           "Vær venlig at sende mig rapporten inden ugens udgang, fordi mødet er på mandag.",
           "Vejret er meget dejligt i dag, og børnene leger i parken til sent om aftenen.",
           "Jeg kan ikke finde mine nøgler, måske har jeg glemt dem i bilen."],
    "de": ["Morgen früh gehen wir auf den Markt, um frisches Gemüse und Obst zu kaufen.",
           "Bitte schicken Sie mir den Bericht bis Ende der Woche, weil das Treffen am Montag ist.",
           "Das Wetter ist heute sehr schön und die Kinder spielen bis spät im Park.",
           "Ich kann meine Schlüssel nicht finden, vielleicht habe ich sie im Auto gelassen."],
    "el": ["Αύριο το πρωί θα πάμε στην αγορά για να αγοράσουμε φρέσκα λαχανικά και φρούτα.",
           "Παρακαλώ στείλτε μου την αναφορά μέχρι το τέλος της εβδομάδας, γιατί η συνάντηση είναι τη Δευτέρα.",
           "Ο καιρός σήμερα είναι πολύ ωραίος και τα παιδιά παίζουν στο πάρκο μέχρι αργά.",
           "Δεν μπορώ να βρω τα κλειδιά μου, ίσως τα άφησα μέσα στο αυτοκίνητο."],
    "en": ["Tomorrow morning we will go to the market to buy fresh vegetables and fruit.",
           "Please send me the report by the end of the week because the meeting is on Monday.",
           "The weather is very nice today and the children are playing in the park until late.",
           "I cannot find my keys, maybe I left them in the car this morning."],
    "es": ["Mañana por la mañana iremos al mercado a comprar verduras y frutas frescas.",
           "Por favor, envíame el informe antes del final de la semana porque la reunión es el lunes.",
           "Hoy hace muy buen tiempo y los niños juegan en el parque hasta tarde.",
           "No encuentro mis llaves, tal vez las dejé en el coche esta mañana."],
    "et": ["Homme hommikul läheme turule, et osta värskeid köögivilju ja puuvilju kogu perele.",
           "Palun saatke mulle aruanne nädala lõpuks, sest koosolek on esmaspäeval kell kümme.",
           "Ilm on täna väga ilus ja lapsed mängivad pargis hilja õhtuni välja.",
           "Ma ei leia oma võtmeid, võib-olla jätsin need hommikul autosse."],
    "fi": ["Huomenna aamulla menemme torille ostamaan tuoreita vihanneksia ja hedelmiä koko perheelle.",
           "Lähettäkää minulle raportti viikon loppuun mennessä, koska kokous on maanantaina.",
           "Sää on tänään todella kaunis ja lapset leikkivät puistossa myöhään iltaan asti.",
           "En löydä avaimiani, ehkä jätin ne autoon tänä aamuna töihin lähtiessäni."],
    "fr": ["Demain matin nous irons au marché pour acheter des légumes et des fruits frais.",
           "Merci de m'envoyer le rapport avant la fin de la semaine car la réunion est lundi.",
           "Il fait très beau aujourd'hui et les enfants jouent dans le parc jusqu'au soir.",
           "Je ne trouve pas mes clés, je les ai peut-être laissées dans la voiture."],
    "hr": ["Sutra ujutro idemo na tržnicu kupiti svježe povrće i voće za cijelu obitelj.",
           "Molim vas, pošaljite mi izvještaj do kraja tjedna jer je sastanak u ponedjeljak.",
           "Vrijeme je danas jako lijepo i djeca se igraju u parku do kasno navečer.",
           "Ne mogu pronaći svoje ključeve, možda sam ih ostavio u automobilu jutros."],
    "hu": ["Holnap reggel elmegyünk a piacra, hogy friss zöldséget és gyümölcsöt vásároljunk.",
           "Kérem, küldje el nekem a jelentést a hét végéig, mert a megbeszélés hétfőn lesz.",
           "Ma nagyon szép idő van, és a gyerekek késő estig játszanak a parkban.",
           "Nem találom a kulcsaimat, talán az autóban hagytam őket ma reggel."],
    "it": ["Domani mattina andremo al mercato a comprare verdura e frutta fresca per tutta la famiglia.",
           "Per favore, mandami la relazione entro la fine della settimana perché la riunione è lunedì.",
           "Oggi il tempo è molto bello e i bambini giocano nel parco fino a tardi.",
           "Non riesco a trovare le mie chiavi, forse le ho lasciate in macchina stamattina."],
    "lt": ["Rytoj ryte eisime į turgų nusipirkti šviežių daržovių ir vaisių visai šeimai.",
           "Prašau atsiųsti man ataskaitą iki savaitės pabaigos, nes susitikimas vyks pirmadienį.",
           "Šiandien oras labai gražus, o vaikai žaidžia parke iki vėlaus vakaro.",
           "Negaliu rasti savo raktų, galbūt palikau juos automobilyje šį rytą."],
    "lv": ["Rīt no rīta mēs iesim uz tirgu nopirkt svaigus dārzeņus un augļus visai ģimenei.",
           "Lūdzu, atsūtiet man ziņojumu līdz nedēļas beigām, jo sanāksme ir pirmdien.",
           "Šodien laiks ir ļoti jauks, un bērni spēlējas parkā līdz vēlam vakaram.",
           "Es nevaru atrast savas atslēgas, varbūt es tās atstāju mašīnā šorīt."],
    "mt": ["Għada filgħodu se mmorru s-suq biex nixtru ħaxix u frott frisk għall-familja kollha.",
           "Jekk jogħġbok ibgħatli r-rapport sal-aħħar tal-ġimgħa għax il-laqgħa hija nhar it-Tnejn.",
           "Illum it-temp sabiħ ħafna u t-tfal qed jilagħbu fil-ġnien sa tard filgħaxija.",
           "Ma nistax insib iċ-ċwievet tiegħi, forsi ħallejthom fil-karozza dalgħodu."],
    "nl": ["Morgenochtend gaan we naar de markt om verse groenten en fruit te kopen.",
           "Stuur me alsjeblieft het rapport voor het einde van de week, want de vergadering is maandag.",
           "Het weer is vandaag erg mooi en de kinderen spelen tot laat in het park.",
           "Ik kan mijn sleutels niet vinden, misschien heb ik ze in de auto laten liggen."],
    "pl": ["Jutro rano pójdziemy na targ kupić świeże warzywa i owoce dla całej rodziny.",
           "Proszę przesłać mi raport do końca tygodnia, ponieważ spotkanie jest w poniedziałek.",
           "Dzisiaj pogoda jest bardzo ładna i dzieci bawią się w parku do późna.",
           "Nie mogę znaleźć moich kluczy, może zostawiłem je dziś rano w samochodzie."],
    "pt": ["Amanhã de manhã vamos ao mercado comprar legumes e frutas frescas para a família.",
           "Por favor, envie-me o relatório até o final da semana, porque a reunião é na segunda-feira.",
           "O tempo hoje está muito bonito e as crianças brincam no parque até tarde.",
           "Não consigo encontrar as minhas chaves, talvez as tenha deixado no carro esta manhã."],
    "ro": ["Mâine dimineață vom merge la piață să cumpărăm legume și fructe proaspete pentru toată familia.",
           "Vă rog să-mi trimiteți raportul până la sfârșitul săptămânii, pentru că ședința este luni.",
           "Vremea este foarte frumoasă astăzi și copiii se joacă în parc până seara târziu.",
           "Nu îmi găsesc cheile, poate le-am lăsat în mașină azi dimineață."],
    "ru": ["Завтра утром мы пойдём на рынок, чтобы купить свежие овощи и фрукты для всей семьи.",
           "Пожалуйста, пришлите мне отчёт до конца недели, потому что совещание в понедельник.",
           "Сегодня очень хорошая погода, и дети играют в парке до позднего вечера.",
           "Я не могу найти свои ключи, может быть, я оставил их в машине сегодня утром."],
    "sk": ["Zajtra ráno pôjdeme na trh kúpiť čerstvú zeleninu a ovocie pre celú rodinu.",
           "Prosím, pošlite mi správu do konca týždňa, pretože stretnutie je v pondelok.",
           "Dnes je veľmi pekné počasie a deti sa hrajú v parku až do neskorého večera.",
           "Nemôžem nájsť svoje kľúče, možno som ich dnes ráno nechal v aute."],
    "sl": ["Jutri zjutraj bomo šli na tržnico kupit sveže zelenjavo in sadje za vso družino.",
           "Prosim, pošljite mi poročilo do konca tedna, ker je sestanek v ponedeljek.",
           "Danes je zelo lepo vreme in otroci se igrajo v parku do poznega večera.",
           "Ne morem najti svojih ključev, morda sem jih danes zjutraj pustil v avtu."],
    "sv": ["I morgon bitti ska vi gå till marknaden för att köpa färska grönsaker och frukt.",
           "Var snäll och skicka rapporten till mig innan veckans slut, eftersom mötet är på måndag.",
           "Vädret är mycket fint i dag och barnen leker i parken till sent på kvällen.",
           "Jag kan inte hitta mina nycklar, kanske lämnade jag dem i bilen i morse."],
    "uk": ["Завтра вранці ми підемо на ринок, щоб купити свіжі овочі та фрукти для всієї родини.",
           "Будь ласка, надішліть мені звіт до кінця тижня, тому що нарада в понеділок.",
           "Сьогодні дуже гарна погода, і діти граються в парку до пізнього вечора.",
           "Я не можу знайти свої ключі, можливо, я залишив їх у машині сьогодні вранці."],
}


def test_the_set_covers_parakeets_languages_with_sentences_of_eight_words_or_more():
    assert set(SENTENCES) == set(LANGUAGE_NAMES)
    assert all(len(s.split()) >= 8 for sentences in SENTENCES.values() for s in sentences)


def test_sentences_are_identified_among_the_models_languages(capsys):
    results = [(code, identify(sentence, tuple(LANGUAGE_NAMES))) for code, sentences in SENTENCES.items()
               for sentence in sentences]
    wrong = [(code, found.code) for code, found in results if found is None or found.code != code]
    accuracy = 1 - len(wrong) / len(results)
    with capsys.disabled():
        print(f"\nlanguage identification: {accuracy:.1%} of {len(results)} sentences; wrong: {wrong}")
    assert accuracy >= 0.95
    confident = [found.confidence for code, found in results if found is not None and found.code == code]
    assert sum(c >= 0.9 for c in confident) >= 0.9 * len(confident)


def test_a_model_with_fewer_languages_is_answered_among_its_own():
    # Restricted to the model's languages: German text for an English and French model is one of those.
    found = identify(SENTENCES["de"][0], ("en", "fr"))
    assert found is not None and found.code in ("en", "fr")
    assert identify("anything at all", ("en",)) == identify("", ("en",))  # an English-only model: English
    assert identify("", ("en", "fr")) is None and identify("12 34, 56!", None) is None


def test_a_named_language_the_model_does_not_know_is_refused_in_words():
    problem = unsupported("fr", ("en",), "nvidia/parakeet-tdt-0.6b-v2")
    assert problem is not None and "French" in problem and "English" in problem
    assert unsupported("fr", None, "my-model.nemo") is None  # a model file of unknown languages
    assert unsupported("de", tuple(LANGUAGE_NAMES), "nvidia/parakeet-tdt-0.6b-v3") is None


def _german_transcript() -> Transcript:
    """A stand-in for a multilingual model's output: German words with times."""
    text = SENTENCES["de"][2]
    words = tuple(Word(w, i * 0.4, i * 0.4 + 0.3) for i, w in enumerate(text.split()))
    transcript = Transcript("rede.wav", 6.0, [Segment(0.0, words[-1].end, text, words)],
                            model="nvidia/parakeet-tdt-0.6b-v3")
    transcript.language = language_of(text, transcript.model)
    return transcript


def test_the_json_export_and_verbose_json_name_the_language():
    transcript = _german_transcript()
    document = json.loads(export.to_json(transcript))
    assert document["language"] == "de" and document["language_confidence"] >= 0.9
    verbose = formats.verbose(transcript, ("segment",), formats.reported_language(transcript, None))
    assert verbose["language"] == "german"
    named = formats.verbose(transcript, (), formats.reported_language(transcript, "de"))
    assert named["language"] == "german" and named["language_confidence"] == 1.0


def test_the_history_keeps_each_entrys_language(tmp_path):
    history = History(tmp_path / "history.sqlite3")
    french = SENTENCES["fr"][1]
    found = language_of(french, "nvidia/parakeet-tdt-0.6b-v3")
    entry = history.add(french, 3.0, "nvidia/parakeet-tdt-0.6b-v3", language=found.code if found else None)
    assert history.get(entry).language == "fr"
    history.set_text(entry, SENTENCES["it"][1], "nvidia/parakeet-tdt-0.6b-v3", "it")
    assert History(tmp_path / "history.sqlite3").get(entry).language == "it"  # kept on disk
    kept = history.get(entry)
    history.delete(entry)
    history.restore([kept])  # undo of a delete
    assert history.get(entry) == kept


@pytest.mark.parametrize("model", ["nvidia/parakeet-tdt-0.6b-v2", "nvidia/parakeet-rnnt-1.1b"])
def test_an_english_models_text_is_english(model):
    found = language_of(SENTENCES["fr"][0], model)  # whatever the text: the model knows English only
    assert found is not None and found.code == "en" and found.confidence == 1.0


def test_an_identifier_that_cannot_load_leaves_texts_without_a_language(monkeypatch, caplog):
    from parakeet_desktop.engine.recognize import language

    def broken(_languages):
        raise OSError("its model file is missing")

    monkeypatch.setattr(language, "_identifier", broken)
    language._say_once.cache_clear()
    # the CLI, run in-process by earlier tests, quiets our loggers; the log line is what is asserted
    caplog.set_level(logging.WARNING, logger="parakeet_desktop")
    assert language.identify(SENTENCES["fr"][0], ("fr", "de")) is None  # the text goes on, unlabelled
    language.warm_up()  # the desktop's start does not fail either
    assert "cannot be told" in caplog.text and "model file is missing" in caplog.text
