using System.Management.Automation;
using Confiture.Core;
using Confiture.Core.Stream;
using Confiture.PowerShell.Hosting;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>
/// <para type="synopsis">Applies the source's changes, streamed by logical decoding since the session's migrations, to the target through each table's map.</para>
/// </summary>
[Cmdlet(VerbsData.Sync, "ConfitureMigration", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ConfitureChangeStreamStatus))]
public sealed class SyncConfitureMigrationCommand : ConfitureCmdlet
{
    private int _progressId;

    /// <summary>The session (Enable-ConfitureFdw -ChangeStream); left out, the last one made in this session.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public ConfitureMigration? Migration { get; set; }

    /// <summary>Keeps applying as the source writes, until Ctrl+C (or -For / -Until).</summary>
    [Parameter]
    public SwitchParameter Continuous { get; set; }

    /// <summary>Keeps applying for this long, then returns.</summary>
    [Parameter]
    public TimeSpan? For { get; set; }

    /// <summary>Keeps applying until this moment, then returns.</summary>
    [Parameter]
    public DateTime? Until { get; set; }

    /// <summary>Changes per target transaction at most (a source transaction is never split).</summary>
    [Parameter]
    [ValidateRange(1, 10_000_000)]
    public int BatchSize { get; set; } = 10_000;

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var migration = RequireSession(Migration);
        if (For is { } span && span <= TimeSpan.Zero)
        {
            ThrowTerminatingError(ErrorRecords.InvalidArgument("-For must be a positive time span.", For, "Pass a time span such as (New-TimeSpan -Minutes 5)."));
        }

        Guard(() =>
        {
            var how = Continuous || For is not null || Until is not null
                ? "apply the source's changes as they come" + (For is { } f ? $" for {f}" : string.Empty) + (Until is { } u ? $" until {u}" : string.Empty)
                : "apply the source's changes committed up to now";
            if (!ShouldProcess($"{migration.Target}: {how}, through each table's recorded map, from the change stream of server \"{migration.ServerName}\".",
                $"Apply the change stream to {migration.Target}?", "Sync-ConfitureMigration"))
            {
                return;
            }

            var options = new ChangeStreamOptions
            {
                Continuous = Continuous,
                For = For,
                Until = Until is { } until ? new DateTimeOffset(until) : null,
                BatchSize = BatchSize,
            };
            ChangeStreamStatus? latest = null;
            _progressId++;
            var status = Run((observer, token) => migration.Migrator.SyncChangeStreamAsync(options, observer, s =>
            {
                Volatile.Write(ref latest, s);
                observer.Progress(new MigrationProgress(s.Slot, s.ChangesApplied, null, s.Elapsed));
            }, token), _ => WriteLag(Volatile.Read(ref latest)));
            WriteProgress(new ProgressRecord(_progressId, "Sync-ConfitureMigration", "Done") { RecordType = ProgressRecordType.Completed });
            WriteObject(new ConfitureChangeStreamStatus(status, migration));
        }, target: migration, terminating: true);
    }

    private void WriteLag(ChangeStreamStatus? status)
    {
        if (status is null)
        {
            return;
        }

        var rate = status.Elapsed.TotalSeconds > 0 ? status.ChangesApplied / status.Elapsed.TotalSeconds : 0;
        WriteProgress(new ProgressRecord(_progressId, "Sync-ConfitureMigration", $"Applying the change stream of slot {status.Slot}")
        {
            StatusDescription = $"{status.ChangesApplied:N0} changes applied ({rate:N0}/s) up to {status.AppliedLsn}; lag {status.LagBytes / 1024.0:N0} KiB, {status.LagSeconds:N1} s",
        });
    }
}
