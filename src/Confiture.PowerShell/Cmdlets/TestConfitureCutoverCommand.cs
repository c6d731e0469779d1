using System.Management.Automation;
using Confiture.Core.Readiness;
using Confiture.PowerShell.Completion;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>
/// <para type="synopsis">The one check before switching the application to the target: every table verified since its last change, sequences, indexes, constraints, statistics, journal, change stream.</para>
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "ConfitureCutover")]
[OutputType(typeof(ConfitureCutoverReadiness), typeof(bool))]
public sealed class TestConfitureCutoverCommand : ConfitureCmdlet
{
    private readonly List<ConfitureMigration> _sessions = [];

    /// <summary>The session (piped in itself, or carried by a result object); left out, the last one made in this session.</summary>
    [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNull]
    public ConfitureMigration? Migration { get; set; }

    /// <summary>The source tables that must be ready; left out, every table the session imported (not its views, materialized views or foreign tables).</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceTableCompleter))]
    public string[]? Table { get; set; }

    /// <summary>The most source WAL, in bytes, the change stream may still have to apply (when the session has a stream).</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long MaxStreamLagBytes { get; set; } = CutoverRequest.DefaultMaxStreamLagBytes;

    /// <summary>Returns one boolean, $true when the cutover may go ahead, instead of the readiness object and its warnings.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        // Piped results each carry their session: the gate runs once per session, at the end.
        var migration = RequireSession(Migration);
        if (!_sessions.Contains(migration))
        {
            _sessions.Add(migration);
        }
    }

    /// <inheritdoc />
    protected override void EndProcessing()
    {
        var ready = true;
        foreach (var migration in _sessions)
        {
            ConfitureCutoverReadiness? readiness = null;
            Guard(() =>
            {
                var tables = Table ?? [.. Run((_, token) => migration.Migrator.TablesAmongAsync(migration.Tables, cancellationToken: token))];
                var request = new CutoverRequest { Tables = tables, OnlyNamed = Table is not null, MaxStreamLagBytes = MaxStreamLagBytes };
                var result = Run((_, token) => migration.Migrator.TestCutoverAsync(request, token));
                readiness = new ConfitureCutoverReadiness(
                    [.. result.Items.Select(i => new ConfitureReadinessItem(i.Check.ToString(), i.TargetSchema, i.TargetTable, i.SourceTable, i.Passed, i.Detail, i.WhatToDo))],
                    result.CheckedAt, result.StreamLagBytes, result.RetainedWalBytes, migration);
            }, target: migration.ServerName, terminating: true);

            foreach (var item in readiness!.Items)
            {
                WriteVerbose(item.ToString());
            }

            ready &= readiness.Ready;
            if (Quiet)
            {
                continue;
            }

            foreach (var failed in readiness.FailedItems)
            {
                WriteWarning($"Not ready: {failed.Check} {failed.Table}: {failed.Detail} What to do: {failed.WhatToDo}");
            }

            WriteObject(readiness);
        }

        if (Quiet)
        {
            WriteObject(ready);
        }
    }
}
