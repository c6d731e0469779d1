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

    /// <summary>The session (piped in itself, or carried by a strategy or result object); left out, the last one made in this session.</summary>
    [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNull]
    public ConfitureMigration? Migration { get; set; }

    /// <summary>The source tables to check; left out, every table the session imported.</summary>
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

    /// <summary>The target schema.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TargetSchemaCompleter))]
    public string TargetSchema { get; set; } = "public";

    /// <summary>Returns one boolean for everything checked instead of the per-table results.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var migration = RequireSession(Migration);
        var tables = Table ?? migration.Tables;
        if (TargetTable is not null && tables.Length != 1)
        {
            ThrowTerminatingError(ErrorRecords.InvalidArgument(
                "-TargetTable names one table; pass exactly one -Table with it.", TargetTable,
                "Pass one -Table with -TargetTable, or leave -TargetTable out when the names are the same."));
        }

        foreach (var table in tables)
        {
            var verified = false;
            Guard(() =>
            {
                var result = Run((_, token) => migration.Migrator.VerifyMigrationAsync(table, TargetTable, SourceSchema, TargetSchema, token));
                verified = result.Match;
                if (!Quiet)
                {
                    WriteObject(new ConfitureVerification(result.SourceSchema, result.SourceTable, result.TargetSchema, result.TargetTable,
                        result.SourceCount, result.TargetCount, migration));
                }
            }, target: table, terminating: false);
            _allMatch &= verified;
        }
    }

    /// <inheritdoc />
    protected override void EndProcessing()
    {
        if (Quiet)
        {
            WriteObject(_allMatch);
        }
    }
}
