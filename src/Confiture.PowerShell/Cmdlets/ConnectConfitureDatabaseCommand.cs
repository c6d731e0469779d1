using System.Management.Automation;
using Confiture.Core.Connections;
using Confiture.PowerShell.Types;

namespace Confiture.PowerShell.Cmdlets;

/// <summary>
/// <para type="synopsis">Connects to a PostgreSQL database and checks the connection.</para>
/// </summary>
[Cmdlet(VerbsCommunications.Connect, "ConfitureDatabase", DefaultParameterSetName = ConnectionStringSet)]
[OutputType(typeof(ConfitureConnection))]
public sealed class ConnectConfitureDatabaseCommand : ConfitureCmdlet
{
    private const string ConnectionStringSet = "ConnectionString";
    private const string PartsSet = "Parts";
    private const string RedactedConnectionString = "********";

    /// <summary>A keyword connection string (Host=...;Username=...) or a postgresql:// URI.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ConnectionStringSet, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public string ConnectionString { get; set; } = string.Empty;

    /// <summary>The server's host name or address.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PartsSet)]
    [ValidateNotNullOrEmpty]
    [Alias("Server", "HostName")]
    public new string Host { get; set; } = string.Empty;

    /// <summary>The server's port.</summary>
    [Parameter(ParameterSetName = PartsSet)]
    [ValidateRange(1, 65535)]
    public int Port { get; set; } = 5432;

    /// <summary>The database name.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PartsSet)]
    [ValidateNotNullOrEmpty]
    public string Database { get; set; } = string.Empty;

    /// <summary>The user name and password.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PartsSet)]
    [Credential]
    [ValidateNotNull]
    public PSCredential Credential { get; set; } = PSCredential.Empty;

    /// <summary>The TLS mode: Disable, Allow, Prefer (default), Require, VerifyCA or VerifyFull.</summary>
    [Parameter(ParameterSetName = PartsSet)]
    [ValidateSet("Disable", "Allow", "Prefer", "Require", "VerifyCA", "VerifyFull")]
    public string SslMode { get; set; } = "Prefer";

    /// <summary>A label for the connection (shown instead of user@host:port/database).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <inheritdoc />
    protected override void ProcessRecord() => Guard(() =>
    {
        // Every record this call writes carries MyInvocation, whose BoundParameters a runbook may
        // log as JSON: the bound connection string (password included) must not travel with them.
        // The value is already on the property, so the dictionary only reports what was given.
        if (MyInvocation.BoundParameters.ContainsKey(nameof(ConnectionString)))
        {
            MyInvocation.BoundParameters[nameof(ConnectionString)] = RedactedConnectionString;
        }

        var endpoint = ParameterSetName == PartsSet
            ? DatabaseEndpoint.FromParts(Host, Port, Database, Credential.UserName, Credential.GetNetworkCredential().Password, SslMode)
            : DatabaseEndpoint.FromConnectionString(ConnectionString);
        try
        {
            WriteVerbose($"Connecting to {endpoint}");
            var description = Run((_, token) => endpoint.DescribeAsync(token));
            WriteObject(new ConfitureConnection(endpoint, description, Name));
        }
        catch
        {
            endpoint.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }, target: Name, terminating: true);
}
