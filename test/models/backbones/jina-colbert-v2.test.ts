/**
 * jina-colbert-v2: Jina's XLM-RoBERTa flash backbone (RoPE, fused Wqkv, post-norm, emb_ln,
 * no position table) in a Stanford ColBERT checkpoint (roberta.* + linear.weight, BF16,
 * artifact.metadata with [QueryMarker]/[DocumentMarker]), against reference.py.
 */
import { backboneParityTests } from "./fixture-parity.js";

backboneParityTests("jina-colbert-v2");
