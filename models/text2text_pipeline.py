"""The translation and summarization pipelines for a Lineage model folder.

This file is copied on its own into every saved model folder, and
`config.json` names its classes under `custom_pipelines`, so that

    pipeline("translation", model=folder_or_hub_id, trust_remote_code=True)
    pipeline("summarization", model=folder_or_hub_id, trust_remote_code=True)

work on both major versions of transformers:

- transformers 5 removed the `translation`, `summarization` and
  `text2text-generation` pipelines; here they are restored as a small
  `Pipeline` subclass (tokenize -> `model.generate` -> decode).
- transformers 4.x still has them: `TranslationPipeline` and
  `SummarizationPipeline` below are then simply the built-in classes.

It imports only the standard library, torch and transformers (never the
Lineage project), because it travels alone to the Hub.

Differences from the 4.x built-ins, on transformers 5:
- Over-long inputs are truncated by default to the model's maximum input
  length (`max_position` of the recurrent configs, `max_position_embeddings`
  of the Transformer, or the tokenizer's `model_max_length` if smaller), and a warning
  is logged for each one. `truncation=False` turns that off.

As in 4.x: generation parameters (`num_beams`, `max_new_tokens`,
`length_penalty`, `no_repeat_ngram_size`, `do_sample`, `generation_config`,
...) pass through to `model.generate`, on top of the model's own generation
config (`generation_config.json`); a parameter that neither the call nor the
model's generation config sets gets the 4.x pipeline default: `num_beams=4`,
`max_new_tokens=256`.
"""

import transformers

__all__ = ["Text2TextPipeline", "TranslationPipeline", "SummarizationPipeline"]

if int(transformers.__version__.split(".")[0]) < 5:
    # transformers 4.x: the built-in pipelines (they honour `custom_pipelines`
    # with trust_remote_code=True and read the same folder).
    from transformers import SummarizationPipeline, TranslationPipeline
    from transformers import Text2TextGenerationPipeline as Text2TextPipeline

else:
    import enum

    import torch
    from transformers import GenerationConfig, Pipeline
    from transformers.utils import logging

    # Named as the 4.x module whose warnings these replace, so that
    # transformers.logging.set_verbosity_*() applies to them too.
    logger = logging.get_logger("transformers.pipelines.text2text_generation")

    # Limits above this are "no limit" (tokenizers default to int(1e30)).
    _NO_LIMIT = 10**9
    # Config fields that bound the input length, recurrent and stock-Transformer style.
    _MAX_LENGTH_FIELDS = ("max_position", "max_position_embeddings", "n_positions", "max_source_positions")

    class ReturnType(enum.Enum):
        TENSORS = 0
        TEXT = 1

    class Text2TextPipeline(Pipeline):
        """Sequence-to-sequence generation: text in, generated text out.

        Call with a string or a list of strings. Returns, like the 4.x
        pipelines, a list with one dict per input
        (`[{"generated_text": ...}]`; with `num_return_sequences=n > 1`, a
        list of n dicts per input).

        Call parameters (also accepted by `pipeline(...)` as defaults):
            truncation (`bool`, default True): truncate inputs longer than
                `max_input_length` (with a warning) instead of failing.
            return_text / return_tensors (`bool`): decoded text (default) or
                token ids (`"<name>_token_ids"`).
            clean_up_tokenization_spaces (`bool`): passed to `decode`.
            any `generate()` parameter: num_beams, max_new_tokens, ...
        """

        _pipeline_calls_generate = True
        _load_processor = False
        _load_image_processor = False
        _load_feature_extractor = False
        _load_tokenizer = True
        # The 4.x text2text/translation/summarization defaults, used for what neither the
        # call nor the model's generation config sets.
        _default_generation_config = GenerationConfig(max_new_tokens=256, num_beams=4)

        # Output keys: "<return_name>_text" / "<return_name>_token_ids".
        return_name = "generated"

        @property
        def max_input_length(self) -> int | None:
            """The longest input, in tokens (special tokens included), the model accepts; None if unbounded."""
            limits = [getattr(self.model.config, field, None) for field in _MAX_LENGTH_FIELDS]
            limits.append(getattr(self.tokenizer, "model_max_length", None))
            limits = [limit for limit in limits if isinstance(limit, int) and 0 < limit < _NO_LIMIT]
            return min(limits) if limits else None

        def _sanitize_parameters(
            self,
            truncation=None,
            return_text=None,
            return_tensors=None,
            return_type=None,
            clean_up_tokenization_spaces=None,
            **generate_kwargs,
        ):
            preprocess_params = {}
            if truncation is not None:
                preprocess_params["truncation"] = truncation
            postprocess_params = {}
            if return_tensors is not None and return_type is None:
                return_type = ReturnType.TENSORS if return_tensors else ReturnType.TEXT
            if return_text is not None and return_type is None:
                return_type = ReturnType.TEXT if return_text else ReturnType.TENSORS
            if return_type is not None:
                postprocess_params["return_type"] = return_type
            if clean_up_tokenization_spaces is not None:
                postprocess_params["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
            return preprocess_params, generate_kwargs, postprocess_params

        def __call__(self, inputs, *args, **kwargs):
            """Generate for `inputs` (a string or a list of strings); see the class docstring."""
            result = super().__call__(inputs, *args, **kwargs)
            # As the 4.x pipelines: a list of strings with one output each gives a flat list of dicts.
            if (
                isinstance(inputs, list)
                and all(isinstance(item, str) for item in inputs)
                and all(len(res) == 1 for res in result)
            ):
                return [res[0] for res in result]
            return result

        def preprocess(self, inputs, truncation=True):
            if not isinstance(inputs, str):
                raise TypeError(f"{type(self).__name__} takes a string or a list of strings, not {type(inputs).__name__}")
            text = (getattr(self, "prefix", None) or "") + inputs
            encoded = self.tokenizer(text, return_tensors="pt", verbose=False)
            limit = self.max_input_length
            length = encoded["input_ids"].shape[-1]
            if limit is not None and length > limit:
                if truncation in (False, "do_not_truncate"):
                    logger.warning(
                        f"Input of {length} tokens is longer than the model's maximum input length "
                        f"({limit}); it is not truncated (truncation=False), so the model may fail."
                    )
                else:
                    logger.warning(
                        f"Input of {length} tokens is longer than the model's maximum input length "
                        f"({limit}); it is truncated to {limit} tokens."
                    )
                    encoded = self.tokenizer(text, return_tensors="pt", truncation=True, max_length=limit)
            # Only what the model's forward takes (4.x fast tokenizers add token_type_ids).
            return {key: encoded[key] for key in ("input_ids", "attention_mask") if key in encoded}

        def _forward(self, model_inputs, **generate_kwargs):
            batch_size = model_inputs["input_ids"].shape[0]
            output_ids = self.model.generate(**model_inputs, **self._prepare_generate_kwargs(generate_kwargs))
            # (batch * num_return_sequences, length) -> (batch, num_return_sequences, length)
            output_ids = output_ids.reshape(batch_size, output_ids.shape[0] // batch_size, *output_ids.shape[1:])
            return {"output_ids": output_ids}

        def postprocess(self, model_outputs, return_type=ReturnType.TEXT, clean_up_tokenization_spaces=None):
            records = []
            for output_ids in model_outputs["output_ids"][0]:
                if return_type == ReturnType.TENSORS:
                    records.append({f"{self.return_name}_token_ids": output_ids})
                else:
                    text = self.tokenizer.decode(
                        output_ids.tolist() if isinstance(output_ids, torch.Tensor) else output_ids,
                        skip_special_tokens=True,
                        clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                    )
                    records.append({f"{self.return_name}_text": text})
            return records

    class TranslationPipeline(Text2TextPipeline):
        """`pipeline("translation")`: outputs `[{"translation_text": ...}]`."""

        return_name = "translation"

        def _sanitize_parameters(self, src_lang=None, tgt_lang=None, **kwargs):
            # Accepted as by the 4.x TranslationPipeline, which uses them only with tokenizers that
            # have language codes; these tokenizers have none, so (as there) they change nothing.
            return super()._sanitize_parameters(**kwargs)

    class SummarizationPipeline(Text2TextPipeline):
        """`pipeline("summarization")`: outputs `[{"summary_text": ...}]`."""

        return_name = "summary"
