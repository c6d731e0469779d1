using System.Management.Automation;
using Confiture.Core;
using Confiture.Core.Fdw;
using Confiture.PowerShell.Completion;
using Confiture.PowerShell.Hosting;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>
/// <para type="synopsis">Sets up postgres_fdw on the target so that it can read the source, and starts a migration session.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Enable, "ConfitureFdw", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ConfitureMigration))]
public sealed class EnableConfitureFdwCommand : ConfitureCmdlet
{
    /// <summary>The source (old) database.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNull]
    public ConfitureConnection Source { get; set; } = null!;

    /// <summary>The target (new) database, where the foreign server and tables are created.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNull]
    public ConfitureConnection Target { get; set; } = null!;

    /// <summary>The target schema that receives the foreign tables; new or empty.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string ForeignSchema { get; set; } = "old_schema";

    /// <summary>The source schema whose tables are imported.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceSchemaCompleter))]
    public string SourceSchema { get; set; } = "public";

    /// <summary>The name of the foreign server created on the target.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string ServerName { get; set; } = "confiture_source_server";

    /// <summary>Imports only these source tables.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(SourceTableCompleter))]
    public string[]? Table { get; set; }

    /// <summary>Rows fetched per round trip by postgres_fdw.</summary>
    [Parameter]
    [ValidateRange(1, 10_000_000)]
    public int FetchSize { get; set; } = FdwSettings.DefaultFetchSize;

    /// <summary>The source's host as the target server sees it, when it differs from this machine's view.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SourceHostForTarget { get; set; }

    /// <summary>The source's port as the target server sees it, when it differs from this machine's view.</summary>
    [Parameter]
    [ValidateRange(1, 65535)]
    public int? SourcePortForTarget { get; set; }

    /// <summary>Takes over a server of this name that another live session holds or that reads another source.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>
    /// Also sets up a change stream on the source (a publication and a logical replication slot)
    /// whose snapshot the session's migrations read, for Sync-ConfitureMigration to apply afterwards.
    /// </summary>
    [Parameter]
    public SwitchParameter ChangeStream { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord() => Guard(() =>
    {
        var migrator = new SchemaToSchemaMigrator(Source.Endpoint, Target.Endpoint, new FdwSettings
        {
            ForeignSchema = ForeignSchema,
            SourceSchema = SourceSchema,
            ServerName = ServerName,
            Tables = Table,
            FetchSize = FetchSize,
            SourceHostForTarget = SourceHostForTarget,
            SourcePortForTarget = SourcePortForTarget,
            Force = Force,
        });
        var plan = Run((observer, token) => migrator.PlanSetupFdwAsync(observer, token));
        IReadOnlyList<string> stream = ChangeStream ? Run((observer, token) => migrator.PlanChangeStreamAsync(observer, token)) : [];
        var description = $"Set up postgres_fdw on {Target} (server \"{ServerName}\" -> {Source}, foreign schema \"{ForeignSchema}\"):"
            + Environment.NewLine + string.Join(Environment.NewLine, plan.Statements.Select(s => "  " + s.Display + ";").Concat(stream.Select(s => "  " + s)));
        if (!Confirmation.ShouldProcess(this, description, $"Set up postgres_fdw on {Target}?", "Enable-ConfitureFdw", Force,
            "Add -Confirm:$false to set up without a question, as an unattended run must.", Target))
        {
            return;
        }

        var applied = ChangeStream
            ? Run((observer, token) => migrator.SetupChangeStreamAsync(observer, token))
            : Run((observer, token) => migrator.SetupFdwAsync(observer, token));
        var migration = new ConfitureMigration(Source, Target, migrator, applied.Tables);
        SessionRegistry.Remember(migration);
        WriteObject(migration);
    }, target: Target, terminating: true);
}
