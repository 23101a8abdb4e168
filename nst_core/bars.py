"""The quality bars, as numbers only (no torch): the registry ranks styles by them without loading the judge.

Fast styles (issue #10): structure at 512 px no worse than the worst published pytorch/examples network (mosaic),
0.72, and 0.66 on average (their median); style term at most 0.35x the photo's own.
The arbitrary method on paintings it never saw (issue #19): structure at most 0.72, style ratio at most 0.5.
"""

STRUCTURE_BAR, STRUCTURE_MEAN_BAR, STYLE_RATIO_BAR = 0.72, 0.66, 0.35
ARBITRARY_STRUCTURE_BAR, ARBITRARY_STYLE_RATIO_BAR = 0.72, 0.5
