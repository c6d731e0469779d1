using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Confiture.PowerShell.Reporting;

/// <summary>The report as JSON, for a pipeline or a dashboard: the same figures, machine-readable.</summary>
internal static class JsonReport
{
    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // Escapes <, >, & and quotes as \u sequences, so the file can be embedded in a page as is.
        Encoder = JavaScriptEncoder.Default,
    };

    public static string Render(RunReport report) => JsonSerializer.Serialize(new
    {
        report.Title,
        GeneratedAt = report.GeneratedAt.ToUniversalTime(),
        report.Sources,
        report.Targets,
        Summary = new { Tables = report.Tables.Count, Rows = report.TotalRows, Seconds = report.TotalSeconds, report.Verified, report.Matched },
        Tables = report.Tables.Select(t => new
        {
            t.SourceSchema,
            t.SourceTable,
            t.TargetSchema,
            t.TargetTable,
            t.Mode,
            t.Strategy,
            t.Rows,
            t.ElapsedSeconds,
            t.RowsPerSecond,
            t.RowsInserted,
            t.RowsUpdated,
            t.RowsDeleted,
            Columns = t.Columns.Select(c => new { c.Source, c.Target }),
            t.Verification,
        }),
    }, Options) + "\n";
}
