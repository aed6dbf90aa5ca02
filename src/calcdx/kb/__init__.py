"""The knowledge base: validated data files, one per diagnosis."""

from calcdx.kb.loader import KnowledgeBase, default_kb_path, load_knowledge_base
from calcdx.kb.schema import Entity

__all__ = ["Entity", "KnowledgeBase", "default_kb_path", "load_knowledge_base"]
