using System.Globalization;
using System.Net;
using System.Text;

namespace Confiture.PowerShell.Reporting;

/// <summary>
/// The report as one self-contained HTML page: inline CSS, no script, no image, font or style
/// from anywhere, and a Content-Security-Policy that forbids them, so it opens the same offline,
/// from a mail attachment or a change ticket. Every name is HTML-encoded: a table named
/// &lt;script&gt; is text.
/// </summary>
internal static class HtmlReport
{
    private const string Style = """
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; margin: 24px 32px; }
        h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; } h3 { font-size: 15px; margin: 18px 0 6px; }
        .meta { color: #59636e; margin: 0 0 16px; }
        .cards { display: flex; gap: 12px; flex-wrap: wrap; }
        .card { border: 1px solid #d1d9e0; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
        .card b { display: block; font-size: 20px; }
        table { border-collapse: collapse; margin: 4px 0 8px; }
        th, td { border: 1px solid #d1d9e0; padding: 4px 8px; text-align: left; vertical-align: top; }
        th { background: #f6f8fa; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
        .ok { color: #1a7f37; font-weight: 600; } .bad { color: #cf222e; font-weight: 600; } .none { color: #59636e; }
        .chart td { border: none; padding: 2px 8px 2px 0; } .track { width: 480px; background: #f6f8fa; }
        .bar { height: 14px; background: #0969da; min-width: 1px; }
        code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f6f8fa; padding: 1px 4px; border-radius: 4px; }
        """;

    public static string Render(RunReport report)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>").Append(E(report.Title)).Append("</title>\n<style>\n").Append(Style).Append("\n</style>\n</head>\n<body>\n");
        html.Append("<h1>").Append(E(report.Title)).Append("</h1>\n<p class=\"meta\">Generated ").Append(E(ReportText.Stamp(report.GeneratedAt)));
        if (report.Sources.Count > 0)
        {
            html.Append(" &middot; source ").Append(string.Join(", ", report.Sources.Select(s => $"<code>{E(s)}</code>")));
        }

        if (report.Targets.Count > 0)
        {
            html.Append(" &middot; target ").Append(string.Join(", ", report.Targets.Select(s => $"<code>{E(s)}</code>")));
        }

        html.Append("</p>\n");
        Summary(html, report);
        Chart(html, report);
        Overview(html, report);
        Details(html, report);
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private static void Summary(StringBuilder html, RunReport report)
    {
        var verdict = report.Verified == 0 ? "none verified" : $"{report.Matched} of {report.Verified} match";
        var css = report.Verified == 0 ? "none" : report.Matched == report.Verified ? "ok" : "bad";
        html.Append("<div class=\"cards\">\n")
            .Append(Card("Tables", report.Tables.Count.ToString(CultureInfo.InvariantCulture)))
            .Append(Card("Rows", ReportText.Count(report.TotalRows)))
            .Append(Card("Time", ReportText.Seconds(report.TotalSeconds)))
            .Append("<div class=\"card\">Verification<b class=\"").Append(css).Append("\">").Append(E(verdict)).Append("</b></div>\n")
            .Append("</div>\n");
    }

    private static string Card(string label, string value) => $"<div class=\"card\">{E(label)}<b>{E(value)}</b></div>\n";

    private static void Chart(StringBuilder html, RunReport report)
    {
        var timed = report.Tables.Where(t => t.ElapsedSeconds is not null).ToList();
        if (timed.Count == 0)
        {
            return;
        }

        var longest = timed.Max(t => t.ElapsedSeconds!.Value);
        html.Append("<h2>Time per table</h2>\n<table class=\"chart\">\n");
        foreach (var table in timed)
        {
            var width = (ReportText.Share(table, longest) * 100).ToString("0.#", CultureInfo.InvariantCulture);
            html.Append("<tr><td>").Append(E(ReportText.Table(table))).Append("</td><td class=\"track\"><div class=\"bar\" style=\"width:")
                .Append(width).Append("%\"></div></td><td class=\"n\">").Append(E(ReportText.Seconds(table.ElapsedSeconds))).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    private static void Overview(StringBuilder html, RunReport report)
    {
        html.Append("<h2>Tables</h2>\n<table>\n<tr><th>Table</th><th>Strategy</th><th>Rows</th><th>Time</th><th>Rows/s</th>")
            .Append("<th>Verification</th><th>Source rows</th><th>Target rows</th><th>Checksum</th></tr>\n");
        foreach (var t in report.Tables)
        {
            var v = t.Verification;
            var css = v is null ? "none" : v.Match ? "ok" : "bad";
            html.Append("<tr><td>").Append(E(ReportText.Table(t))).Append("</td><td>").Append(E(t.Strategy ?? "")).Append("</td>")
                .Append("<td class=\"n\">").Append(E(ReportText.Count(t.Rows))).Append("</td>")
                .Append("<td class=\"n\">").Append(E(ReportText.Seconds(t.ElapsedSeconds))).Append("</td>")
                .Append("<td class=\"n\">").Append(E(ReportText.Rate(t.RowsPerSecond))).Append("</td>")
                .Append("<td class=\"").Append(css).Append("\">").Append(E(ReportText.Verdict(v?.Match))).Append("</td>")
                .Append("<td class=\"n\">").Append(E(ReportText.Count(v?.SourceCount))).Append("</td>")
                .Append("<td class=\"n\">").Append(E(ReportText.Count(v?.TargetCount))).Append("</td>")
                .Append("<td>").Append(E(ReportText.Checksum(v))).Append("</td></tr>\n");
        }

        html.Append("</table>\n");
    }

    private static void Details(StringBuilder html, RunReport report)
    {
        foreach (var t in report.Tables)
        {
            html.Append("<h3>").Append(E(t.SourceName)).Append(" &rarr; ").Append(E(t.TargetName)).Append("</h3>\n");
            if (t.Mode == "Sync")
            {
                html.Append("<p>Sync: ").Append(E(ReportText.Count(t.RowsInserted))).Append(" inserted, ").Append(E(ReportText.Count(t.RowsUpdated)))
                    .Append(" updated, ").Append(E(ReportText.Count(t.RowsDeleted))).Append(" deleted.</p>\n");
            }

            if (t.Columns.Count > 0)
            {
                html.Append("<table>\n<tr><th>Source column</th><th>Target column</th></tr>\n");
                foreach (var c in t.Columns)
                {
                    html.Append("<tr><td>").Append(E(c.Source)).Append("</td><td>").Append(E(c.Target)).Append("</td></tr>\n");
                }

                html.Append("</table>\n");
            }

            if (t.Verification is { } v)
            {
                html.Append("<p>Verification: <span class=\"").Append(v.Match ? "ok" : "bad").Append("\">").Append(E(ReportText.Verdict(v.Match))).Append("</span>, ")
                    .Append(E(ReportText.Count(v.SourceCount))).Append(" source rows, ").Append(E(ReportText.Count(v.TargetCount))).Append(" target rows (difference ")
                    .Append(E(v.Difference.ToString("N0", CultureInfo.InvariantCulture))).Append("); ").Append(E(v.Coverage)).Append(".</p>\n");
                if (v.MismatchReason is not null)
                {
                    html.Append("<p class=\"bad\">").Append(E(v.MismatchReason)).Append("</p>\n");
                }

                if (v.SourceChecksum is not null)
                {
                    html.Append("<p>Checksums: source <code>").Append(E(v.SourceChecksum)).Append("</code>, target <code>").Append(E(v.TargetChecksum ?? ""))
                        .Append("</code> (").Append(E(ReportText.Checksum(v))).Append(").</p>\n");
                }

                html.Append("<p>Compared: ").Append(List(v.ComparedColumns)).Append("</p>\n<p>Not compared: ").Append(List(v.NotCompared)).Append("</p>\n");
            }
        }
    }

    private static string List(string[] items) => items.Length == 0 ? "<span class=\"none\">none</span>" : string.Join(", ", items.Select(i => $"<code>{E(i)}</code>"));

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
