using System.Management.Automation;
using Confiture.PowerShell.Hosting;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>
/// <para type="synopsis">Removes what Enable-ConfitureFdw created on the target: foreign tables, user mapping, server and foreign schema.</para>
/// </summary>
[Cmdlet(VerbsCommon.Remove, "ConfitureFdw", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ConfitureMigration))]
public sealed class RemoveConfitureFdwCommand : ConfitureCmdlet
{
    /// <summary>The session to clean up; left out, the last one made in this session.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public ConfitureMigration? Migration { get; set; }

    /// <summary>Emits the session after cleanup.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Keeps what the target's record says of the session's migrations (their maps and sync marks), for a later verification.</summary>
    [Parameter]
    public SwitchParameter KeepRecord { get; set; }

    /// <summary>Does not ask for confirmation, whatever $ConfirmPreference says (an explicit -Confirm still asks).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord()
    {
        var migration = RequireSession(Migration);
        Guard(() =>
        {
            var plan = Run((observer, token) => migration.Migrator.PlanCleanupFdwAsync(observer, token));
            var description = plan.Statements.Count == 0
                ? $"Nothing of server \"{migration.ServerName}\" is left on {migration.Target}."
                : $"Remove postgres_fdw objects from {migration.Target}:" + Environment.NewLine
                  + string.Join(Environment.NewLine, plan.Statements.Select(s => "  " + s.Display + ";"));
            if (!Confirmation.ShouldProcess(this, description, $"Remove server \"{migration.ServerName}\" and its foreign tables from {migration.Target}?", "Remove-ConfitureFdw",
                Force, "Add -Force (or -Confirm:$false) to clean up without a question, as an unattended run must.", migration))
            {
                return;
            }

            Run((observer, token) => migration.Migrator.CleanupFdwAsync(observer, KeepRecord, token));
            SessionRegistry.Forget(migration);
            if (PassThru)
            {
                WriteObject(migration);
            }
        }, target: migration, terminating: true);
    }
}
