using System.Globalization;
using System.Text;

namespace Confiture.PowerShell.Reporting;

/// <summary>
/// The report as Markdown (a change ticket, a wiki page, a pull request). Names are escaped so
/// that none is read as Markdown or HTML: a table named &lt;script&gt; or a|b stays text.
/// </summary>
internal static class MarkdownReport
{
    private const int BarWidth = 30;

    public static string Render(RunReport report)
    {
        var md = new StringBuilder();
        md.Append("# ").Append(M(report.Title)).Append("\n\n");
        md.Append("Generated ").Append(M(ReportText.Stamp(report.GeneratedAt)));
        if (report.Sources.Count > 0)
        {
            md.Append(" · source ").Append(string.Join(", ", report.Sources.Select(M)));
        }

        if (report.Targets.Count > 0)
        {
            md.Append(" · target ").Append(string.Join(", ", report.Targets.Select(M)));
        }

        md.Append("\n\n");
        var verdict = report.Verified == 0 ? "none verified" : $"{report.Matched} of {report.Verified} match";
        md.Append("**").Append(report.Tables.Count.ToString(CultureInfo.InvariantCulture)).Append(" tables, ").Append(ReportText.Count(report.TotalRows))
            .Append(" rows, ").Append(ReportText.Seconds(report.TotalSeconds)).Append("; verification: ").Append(verdict).Append(".**\n\n");

        md.Append("| Table | Strategy | Rows | Time | Rows/s | Verification | Source rows | Target rows | Checksum |\n")
          .Append("|---|---|---:|---:|---:|---|---:|---:|---|\n");
        foreach (var t in report.Tables)
        {
            var v = t.Verification;
            md.Append("| ").Append(M(ReportText.Table(t))).Append(" | ").Append(M(t.Strategy ?? "")).Append(" | ").Append(ReportText.Count(t.Rows))
                .Append(" | ").Append(ReportText.Seconds(t.ElapsedSeconds)).Append(" | ").Append(ReportText.Rate(t.RowsPerSecond))
                .Append(" | ").Append(v is null ? "not verified" : v.Match ? "Match" : "**MISMATCH**")
                .Append(" | ").Append(ReportText.Count(v?.SourceCount)).Append(" | ").Append(ReportText.Count(v?.TargetCount))
                .Append(" | ").Append(ReportText.Checksum(v)).Append(" |\n");
        }

        var timed = report.Tables.Where(t => t.ElapsedSeconds is not null).ToList();
        if (timed.Count > 0)
        {
            var longest = timed.Max(t => t.ElapsedSeconds!.Value);
            md.Append("\n## Time per table\n\n| Table | Time | |\n|---|---:|---|\n");
            foreach (var t in timed)
            {
                var cells = (int)Math.Round(ReportText.Share(t, longest) * BarWidth);
                md.Append("| ").Append(M(ReportText.Table(t))).Append(" | ").Append(ReportText.Seconds(t.ElapsedSeconds)).Append(" | ")
                    .Append(new string('█', Math.Max(cells, 1))).Append(" |\n");
            }
        }

        md.Append("\n## Tables\n");
        foreach (var t in report.Tables)
        {
            md.Append("\n### ").Append(M(t.SourceName)).Append(" → ").Append(M(t.TargetName)).Append("\n\n");
            if (t.Mode == "Sync")
            {
                md.Append("Sync: ").Append(ReportText.Count(t.RowsInserted)).Append(" inserted, ").Append(ReportText.Count(t.RowsUpdated))
                    .Append(" updated, ").Append(ReportText.Count(t.RowsDeleted)).Append(" deleted.\n\n");
            }

            if (t.Columns.Count > 0)
            {
                md.Append("| Source column | Target column |\n|---|---|\n");
                foreach (var c in t.Columns)
                {
                    md.Append("| ").Append(M(c.Source)).Append(" | ").Append(M(c.Target)).Append(" |\n");
                }

                md.Append('\n');
            }

            if (t.Verification is { } v)
            {
                md.Append("Verification: ").Append(v.Match ? "Match" : "**MISMATCH**").Append(", ").Append(ReportText.Count(v.SourceCount)).Append(" source rows, ")
                    .Append(ReportText.Count(v.TargetCount)).Append(" target rows (difference ").Append(v.Difference.ToString("N0", CultureInfo.InvariantCulture))
                    .Append("); ").Append(M(v.Coverage)).Append(".\n\n");
                if (v.MismatchReason is not null)
                {
                    md.Append("**").Append(M(v.MismatchReason)).Append("**\n\n");
                }

                if (v.SourceChecksum is not null)
                {
                    md.Append("Checksums: source ").Append(M(v.SourceChecksum)).Append(", target ").Append(M(v.TargetChecksum ?? ""))
                        .Append(" (").Append(ReportText.Checksum(v)).Append(").\n\n");
                }

                md.Append("Compared: ").Append(v.ComparedColumns.Length == 0 ? "none" : string.Join(", ", v.ComparedColumns.Select(M))).Append("\n\n");
                md.Append("Not compared: ").Append(v.NotCompared.Length == 0 ? "none" : string.Join(", ", v.NotCompared.Select(M))).Append('\n');
            }
        }

        return md.ToString();
    }

    /// <summary>Escapes a name for Markdown: its punctuation with a backslash, and what HTML would read as markup as entities.</summary>
    private static string M(string text)
    {
        var md = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            switch (c)
            {
                case '&': md.Append("&amp;"); break;
                case '<': md.Append("&lt;"); break;
                case '>': md.Append("&gt;"); break;
                case '\r' or '\n' or '\t': md.Append(' '); break;
                // Inline, after other text: only these can start emphasis, code, a link or a cell.
                case '\\' or '`' or '*' or '_' or '[' or ']' or '|' or '~':
                    md.Append('\\').Append(c);
                    break;
                default: md.Append(c); break;
            }
        }

        return md.ToString();
    }
}
