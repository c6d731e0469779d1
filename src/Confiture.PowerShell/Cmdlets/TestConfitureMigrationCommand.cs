using System.Diagnostics;
using System.Management.Automation;
using Confiture.PowerShell.Completion;
using Confiture.PowerShell.Hosting;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>
/// <para type="synopsis">Compares each table's row count on the source and on the target.</para>
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "ConfitureMigration")]
[OutputType(typeof(ConfitureVerification), typeof(bool))]
public sealed class TestConfitureMigrationCommand : ConfitureCmdlet
{
    private bool _allMatch = true;
    private int _progressId;
    private PhaseProgressBars? _bars;

    /// <summary>The session (piped in itself, or carried by a strategy or result object); left out, the last one made in this session.</summary>
    [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNull]
    public ConfitureMigration? Migration { get; set; }

    /// <summary>The source tables to check; left out, every table the session imported (not its views, materialized views or foreign tables).</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("SourceTable")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceTableCompleter))]
    public string[]? Table { get; set; }

    /// <summary>The target table, when it has another name than the source table (one table only).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TargetTableCompleter))]
    public string? TargetTable { get; set; }

    /// <summary>The source schema; left out, the session's.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceSchemaCompleter))]
    public string? SourceSchema { get; set; }

    /// <summary>The target schema; left out, the map's or the session's for the table, else public.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TargetSchemaCompleter))]
    public string? TargetSchema { get; set; }

    /// <summary>A migration map (a hashtable or a .psd1 path), as given to Invoke-ConfitureTableMigration; left out, the session's.</summary>
    [Parameter]
    [ValidateNotNull]
    public object? Map { get; set; }

    /// <summary>Source column to target column, as migrated (bound from Invoke-ConfitureTableMigration's results); left out, the columns both tables share by name.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNull]
    public System.Collections.IDictionary? ColumnMapping { get; set; }

    /// <summary>Also compares a digest of every row's mapped values, computed on each server.</summary>
    [Parameter]
    public SwitchParameter Checksum { get; set; }

    /// <summary>When the digests differ, narrows down by key ranges and reports the differing keys (implies -Checksum).</summary>
    [Parameter]
    public SwitchParameter Detailed { get; set; }

    /// <summary>The most differing keys to report per table with -Detailed.</summary>
    [Parameter]
    [ValidateRange(1, 1_000_000)]
    public int MaxDifferences { get; set; } = 100;

    /// <summary>Returns one boolean for everything checked instead of the per-table results.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    private Confiture.Core.Migration.MigrationMap? _map;

    /// <inheritdoc />
    protected override void BeginProcessing()
    {
        if (Map is not null)
        {
            Guard(() => _map = MigrationMaps.From(Map), target: Map, terminating: true);
        }
    }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var migration = RequireSession(Migration);
        var tables = Table ?? [];
        if (Table is null)
        {
            // The session imported views and materialized views too; only its tables are compared by default.
            Guard(() => tables = [.. Run((_, token) => migration.Migrator.TablesAmongAsync(migration.Tables, cancellationToken: token))],
                target: migration.SourceSchema, terminating: true);
        }

        if (TargetTable is not null && tables.Length != 1)
        {
            ThrowTerminatingError(ErrorRecords.InvalidArgument(
                "-TargetTable names one table; pass exactly one -Table with it.", TargetTable,
                "Pass one -Table with -TargetTable, or leave -TargetTable out when the names are the same."));
        }

        // A bar per table hashing, under one for the call when it checks several (piped ones included, their number unknown).
        _bars ??= new PhaseProgressBars(this, () => ++_progressId, "Verifying",
            several: tables.Length > 1 || MyInvocation.ExpectingInput, total: MyInvocation.ExpectingInput ? null : tables.Length);
        foreach (var table in tables)
        {
            var verified = false;
            _bars.Track(table, () => Guard(() =>
            {
                // Where the table went: as named, else as the map says, else as this session migrated it.
                var map = _map ?? migration.Map;
                var entry = map is not null && map.Names(table) ? map.For(table) : null;
                // Only an unambiguous answer: one source table may have been migrated into several targets.
                var candidates = migration.Migrator.Maps.Values.Where(m => m.SourceTable == table && m.SourceSchema == (SourceSchema ?? migration.SourceSchema)).ToList();
                var migrated = candidates.Count == 1 && TargetTable is null ? candidates[0] : null;
                var request = new Confiture.Core.Verification.VerificationRequest
                {
                    SourceTable = table,
                    TargetTable = TargetTable ?? entry?.TargetTable ?? migrated?.TargetTable,
                    SourceSchema = SourceSchema,
                    TargetSchema = TargetSchema ?? entry?.TargetSchema ?? migrated?.TargetSchema ?? "public",
                    Map = _map is not null || migrated is null ? entry : null,
                    ColumnMapping = ColumnMapping is null ? null : ColumnMappings.ToPairs(ColumnMapping, table),
                    Checksum = Checksum || Detailed,
                    Detailed = Detailed,
                    MaxDifferences = MaxDifferences,
                };
                var clock = Stopwatch.StartNew();
                var result = Run((observer, token) => migration.Migrator.VerifyMigrationAsync(request, observer, token), _bars.Update);
                WriteVerbose($"[{clock.ElapsedMilliseconds} ms] Compared \"{result.SourceSchema}\".\"{result.SourceTable}\" on {migration.Source} ({result.SourceCount} rows) "
                    + $"with \"{result.TargetSchema}\".\"{result.TargetTable}\" on {migration.Target} ({result.TargetCount} rows){(request.Checksum ? ", with checksums" : string.Empty)}: "
                    + (result.Match ? "match" : "MISMATCH: " + result.MismatchReason) + $" ({result.Coverage})");
                foreach (var column in result.NotCompared)
                {
                    WriteVerbose($"Not compared: {column}");
                }

                if (request.Checksum && result.MapSource?.StartsWith("same names", StringComparison.Ordinal) == true && result.NotCompared.Any(c => c.Side == "target"))
                {
                    WriteWarning($"No map is known for \"{result.TargetSchema}\".\"{result.TargetTable}\" (not migrated in this session, none recorded on the target): " +
                        $"compared the columns both tables share by name; not compared: {string.Join(", ", result.NotCompared.Where(c => c.Side == "target").Select(c => c.Column))}. Pass -ColumnMapping to compare the others.");
                }
                verified = result.Match;
                if (!Quiet)
                {
                    WriteObject(new ConfitureVerification(result.SourceSchema, result.SourceTable, result.TargetSchema, result.TargetTable,
                        result.SourceCount, result.TargetCount, result.SourceChecksum, result.TargetChecksum,
                        [.. result.Differences.Select(d => new ConfitureRowDifference(d.Key, d.Kind.ToString()))], migration)
                    {
                        Match = result.Match,
                        MismatchReason = result.MismatchReason,
                        Coverage = result.Coverage,
                        ComparedColumns = [.. result.ComparedColumns.Select(c => c.ToString())],
                        NotCompared = [.. result.NotCompared.Select(c => c.ToString())],
                    });
                }
            }, target: table, terminating: false));
            _allMatch &= verified;
        }
    }

    /// <inheritdoc />
    protected override void EndProcessing()
    {
        _bars?.Complete();
        if (Quiet)
        {
            WriteObject(_allMatch);
        }
    }
}
