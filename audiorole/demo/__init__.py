"""The embedded demo series: a synthetic sitcom made from voices shipped in packages, with ground truth."""

from audiorole.demo.build import DemoEpisode, DemoManifest, build_demo

__all__ = ["DemoEpisode", "DemoManifest", "build_demo"]
