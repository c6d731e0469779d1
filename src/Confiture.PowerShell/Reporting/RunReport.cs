using System.Collections;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Reporting;

/// <summary>One column as it moved: the source column and the target column it filled.</summary>
internal sealed record ReportColumn(string Source, string Target);

/// <summary>What Test-ConfitureMigration found for one table.</summary>
internal sealed record ReportVerification(
    bool Match, long SourceCount, long TargetCount, long Difference, bool? ChecksumMatch,
    string? SourceChecksum, string? TargetChecksum, string Coverage, string[] ComparedColumns, string[] NotCompared, string? MismatchReason);

/// <summary>One table of the report: what moved (when a result was given) and how it was verified (when a verification was).</summary>
internal sealed record ReportTable(
    string SourceSchema, string SourceTable, string TargetSchema, string TargetTable,
    string? Mode, string? Strategy, long? Rows, double? ElapsedSeconds, double? RowsPerSecond,
    long? RowsInserted, long? RowsUpdated, long? RowsDeleted,
    IReadOnlyList<ReportColumn> Columns, ReportVerification? Verification)
{
    public string SourceName => $"{SourceSchema}.{SourceTable}";

    public string TargetName => $"{TargetSchema}.{TargetTable}";
}

/// <summary>
/// A run's evidence for a change board, built from the objects the cmdlets emitted: per table the
/// map, strategy, rows, time and verification. It holds names and figures only: the connections
/// appear as user@host:port/database, never with a password or a connection string.
/// </summary>
internal sealed record RunReport(string Title, DateTimeOffset GeneratedAt, IReadOnlyList<string> Sources, IReadOnlyList<string> Targets, IReadOnlyList<ReportTable> Tables)
{
    public long TotalRows => Tables.Sum(t => t.Rows ?? 0);

    public double TotalSeconds => Tables.Sum(t => t.ElapsedSeconds ?? 0);

    public int Verified => Tables.Count(t => t.Verification is not null);

    public int Matched => Tables.Count(t => t.Verification?.Match == true);

    /// <summary>
    /// Pairs each verification with the result of the same target table (the latest one before it),
    /// in the order the objects came; a verification with no result is a table of its own, and so
    /// is a second result of one table (a load, then a sync).
    /// </summary>
    public static RunReport From(string title, IEnumerable<object> objects, DateTimeOffset now)
    {
        var tables = new List<ReportTable>();
        var sources = new List<string>();
        var targets = new List<string>();
        foreach (var item in objects)
        {
            var migration = item switch
            {
                ConfitureTableMigrationResult r => r.Migration,
                ConfitureVerification v => v.Migration,
                _ => null,
            };
            if (migration is not null)
            {
                Add(sources, migration.Source.ToString());
                Add(targets, migration.Target.ToString());
            }

            switch (item)
            {
                case ConfitureTableMigrationResult result:
                    tables.Add(FromResult(result));
                    break;
                case ConfitureVerification verification:
                    var index = tables.FindLastIndex(t => t.Verification is null && t.TargetSchema == verification.TargetSchema && t.TargetTable == verification.TargetTable);
                    var found = FromVerification(verification);
                    if (index >= 0)
                    {
                        tables[index] = tables[index] with { Verification = found };
                    }
                    else
                    {
                        tables.Add(new ReportTable(verification.SourceSchema, verification.SourceTable, verification.TargetSchema, verification.TargetTable,
                            null, null, null, null, null, null, null, null, Pairs(verification.ComparedColumns), found));
                    }

                    break;
            }
        }

        return new RunReport(title, now, sources, targets, tables);
    }

    private static void Add(List<string> list, string value)
    {
        if (!list.Contains(value))
        {
            list.Add(value);
        }
    }

    private static ReportTable FromResult(ConfitureTableMigrationResult result)
    {
        var columns = new List<ReportColumn>();
        foreach (DictionaryEntry pair in result.ColumnMapping)
        {
            columns.Add(new ReportColumn($"{pair.Key}", $"{pair.Value}"));
        }

        var sync = result.Mode == "Sync";
        return new ReportTable(result.SourceSchema, result.SourceTable, result.TargetSchema, result.TargetTable,
            result.Mode, sync ? "Sync" : result.Strategy.ToString(), result.RowsMigrated, result.Elapsed.TotalSeconds, result.RowsPerSecond,
            sync ? result.RowsInserted : null, sync ? result.RowsUpdated : null, sync ? result.RowsDeleted : null, columns, null);
    }

    private static ReportVerification FromVerification(ConfitureVerification v) => new(
        v.Match, v.SourceCount, v.TargetCount, v.Difference, v.ChecksumMatch, v.SourceChecksumHex, v.TargetChecksumHex,
        v.Coverage, v.ComparedColumns, v.NotCompared, v.MismatchReason);

    /// <summary>The compared columns ("source -> target") as pairs, for a table verified without its result.</summary>
    private static List<ReportColumn> Pairs(IEnumerable<string> compared) =>
        [.. compared.Select(c => c.Split(" -> ", 2) is [var s, var t] ? new ReportColumn(s, t) : new ReportColumn(c, c))];
}
