"""Rule paper: tidy, average and re-draw the authors' published per-item metric tables."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.survey import published as paper
from culturalign.io.tables import write_table


def main(snakemake):
    log = logging.getLogger("culturalign")
    root = snakemake.params.folder
    questions = pd.read_parquet(snakemake.input.questions)
    published = paper.read_published(root, questions)
    notes = paper.range_notes(published)
    for note in notes:
        log.warning("%s", note)
    write_table(
        published,
        snakemake.output.published,
        snakemake.input.schema,
        metadata={"source": str(root), "average_rows": "excluded"},
    )
    table = paper.averages(published, paper.average_rows(root))
    table.to_csv(snakemake.output.averages, index=False, float_format="%.6f")
    paper.aggregates(table).to_csv(snakemake.output.aggregates, index=False, float_format="%.6f")
    figures = paper.draw_figures(table, snakemake.params.figure_dir)
    notes = [
        "Each file's final 'Average' row is excluded from published.parquet and used only to "
        "check our per-column means (max_abs_diff_vs_average_row).",
        "Rows past the benchmark's last question (Code > 864, all empty in the KL and NVAS "
        "files) are dropped.",
        "Upstream 'Tusnia' is spelled Tunisia. Reasoning files (reason/Reasoning/Reasoner) are "
        "labelled cot, zero-shot files zero.",
        "KL files that name no framing are taken to be the un-framed (neutral) prompts.",
        "CLCS observer tables hold one column per native language (ar, fa, tr) instead of per "
        "country; SPD tables carry an extra 'LLM' column (no country), both kept.",
        *notes,
    ]
    paper.render_index(table, figures, snakemake.output.html, source=str(root), notes=notes)
    log.info("%d published values from %s", len(published), root)


run(snakemake, main)  # noqa: F821
