<#
    Tab completion of schema and table names from the session's databases, through TabExpansion2
    as the console calls it: quoted where PowerShell needs quotes, read from the right side and
    schema, and quick and silent when the database cannot answer.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Native.Helpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Get-Completion([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches
    }

    $pair = New-NativeFixture
    Invoke-TestSql -Side Target -Database $pair.Database -Sql "CREATE TABLE archive.""Orders Archive"" (id int); ALTER TABLE archive.""Orders Archive"" OWNER TO $($pair.MigratorUser)" | Out-Null
    $fdw = $pair.FdwParameters
    $src = $pair.Source
    $tgt = $pair.Target
    $migration = Enable-ConfitureFdw -Source $src -Target $tgt @fdw -Confirm:$false
}

AfterAll {
    if ($migration) { $migration | Remove-ConfitureFdw -Confirm:$false -ErrorAction Continue }
    if ($pair) { Remove-TestDatabasePair $pair }
}

Describe 'Completing source table names' {
    It 'quotes a name with a space' {
        $matches_ = Get-Completion 'Invoke-ConfitureTableMigration -Migration $migration -SourceTable Ord'
        $matches_.CompletionText | Should -Be @("'Order Lines'", 'orders')
        ($matches_ | Where-Object CompletionText -EQ "'Order Lines'").ListItemText | Should -Be 'Order Lines'
        $matches_[0].ResultType | Should -Be 'ParameterValue'
    }

    It 'doubles a quote inside a name' {
        (Get-Completion 'Invoke-ConfitureTableMigration -Migration $migration -SourceTable it').CompletionText | Should -Be @("'it''s'")
    }

    It 'continues a name the user started with a quote' {
        (Get-Completion "Invoke-ConfitureTableMigration -Migration `$migration -SourceTable 'order l").CompletionText | Should -Be @("'Order Lines'")
        (Get-Completion 'Invoke-ConfitureTableMigration -Migration $migration -SourceTable "Order').CompletionText | Should -Contain "'Order Lines'"
    }

    It 'completes a name that needs no quotes as it is' {
        (Get-Completion 'Invoke-ConfitureTableMigration -Migration $migration -SourceTable use').CompletionText | Should -Be @('users')
    }

    It 'uses the runspace''s last session when -Migration is left out' {
        (Get-Completion 'Get-ConfitureStrategy -Table us').CompletionText | Should -Be @('users')
        (Get-Completion 'Test-ConfitureMigration -Table it').CompletionText | Should -Be @("'it''s'")
    }

    It 'reads the schema typed on the line' {
        (Get-Completion "Invoke-ConfitureTableMigration -SourceSchema 'Sales Data' -SourceTable ").CompletionText | Should -Be @('invoices')
        (Get-Completion "Get-ConfitureStrategy -Schema 'Sales Data' -Table ").CompletionText | Should -Be @('invoices')
    }

    It 'reads the source connection of Enable-ConfitureFdw, which has no session yet' {
        (Get-Completion 'Enable-ConfitureFdw -Source $src -Target $tgt -Table "ord').CompletionText | Should -Be @("'Order Lines'", 'orders')
        (Get-Completion "Enable-ConfitureFdw -Source `$src -Target `$tgt -SourceSchema 'Sales Data' -Table ").CompletionText | Should -Be @('invoices')
    }
}

Describe 'Completing schema names' {
    It 'completes source schemas, quoted where needed, without the system schemas' {
        (Get-Completion 'Get-ConfitureStrategy -Schema Sa').CompletionText | Should -Be @("'Sales Data'")
        $all = (Get-Completion 'Enable-ConfitureFdw -Source $src -Target $tgt -SourceSchema ').CompletionText
        $all | Should -Contain 'public'
        $all | Should -Contain "'Sales Data'"
        $all | Should -Not -Contain 'pg_catalog'
        $all | Should -Not -Contain 'information_schema'
    }

    It 'completes target schemas and target tables from the target' {
        $schemas = (Get-Completion 'Invoke-ConfitureTableMigration orders -TargetSchema ').CompletionText
        $schemas | Should -Contain 'archive'
        $schemas | Should -Contain 'old_schema'
        $schemas | Should -Not -Contain "'Sales Data'"
        (Get-Completion 'Invoke-ConfitureTableMigration orders -TargetSchema archive -TargetTable ').CompletionText | Should -Be @("'Orders Archive'")
        (Get-Completion 'Test-ConfitureMigration -Table orders -TargetSchema archive -TargetTable Ord').CompletionText | Should -Be @("'Orders Archive'")
    }
}

Describe 'Completion never gets in the way' {
    It 'offers no table names, and throws nothing, in a runspace without a session' {
        $ps = [powershell]::Create()
        try {
            $manifest = Get-ModuleManifestPath
            $null = $ps.AddScript("Import-Module '$manifest'; (TabExpansion2 -inputScript 'Get-ConfitureStrategy -Table Ord' -cursorColumn 32).CompletionMatches.CompletionText")
            $texts = $ps.Invoke()
            $ps.HadErrors | Should -BeFalse
            $texts | Should -Not -Contain "'Order Lines'"
        }
        finally {
            $ps.Dispose()
        }
    }

    It 'gives up within its timeout when the server does not answer' {
        # A proxy that forwards to the source server, then swallows everything: connections stay
        # open but no answer ever comes back, as with a hung server or a dropped network path.
        if (-not ('ConfitureTests.BlackHoleProxy' -as [type])) {
            Add-Type -TypeDefinition @'
using System;
using System.Net;
using System.Net.Sockets;
namespace ConfitureTests;
public sealed class BlackHoleProxy : System.IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly System.Collections.Concurrent.ConcurrentBag<TcpClient> _clients = new();
    private readonly string _host;
    private readonly int _port;
    public BlackHoleProxy(string host, int port) { _host = host; _port = port; _listener.Start(); _ = AcceptAsync(); }
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public volatile bool Swallow;
    private async System.Threading.Tasks.Task AcceptAsync()
    {
        while (true)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(); } catch { return; }
            _clients.Add(client);
            if (Swallow) { _ = PumpAsync(client.GetStream(), null); continue; }
            var server = new TcpClient();
            _clients.Add(server);
            try { await server.ConnectAsync(_host, _port); } catch { client.Dispose(); continue; }
            _ = PumpAsync(client.GetStream(), server.GetStream());
            _ = PumpAsync(server.GetStream(), client.GetStream());
        }
    }
    private async System.Threading.Tasks.Task PumpAsync(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[16384];
        while (true)
        {
            int read;
            try { read = await from.ReadAsync(buffer); } catch { return; }
            if (read == 0) return;
            if (Swallow || to is null) continue;
            try { await to.WriteAsync(buffer, 0, read); } catch { return; }
        }
    }
    public void Dispose() { _listener.Stop(); foreach (var c in _clients) c.Dispose(); }
}
'@
        }
        $server = Get-TestServer Source
        $proxy = [ConfitureTests.BlackHoleProxy]::new($server.Host, $server.Port)
        try {
            $credential = [pscredential]::new($pair.MigratorUser, (ConvertTo-SecureString $pair.MigratorPassword -AsPlainText -Force))
            $slow = Connect-ConfitureDatabase -Host 127.0.0.1 -Port $proxy.Port -Database $pair.Database -Credential $credential -SslMode Disable
            (Get-Completion 'Enable-ConfitureFdw -Source $slow -Target $tgt -Table Ord').CompletionText | Should -Contain "'Order Lines'"

            $proxy.Swallow = $true
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $texts = (Get-Completion 'Enable-ConfitureFdw -Source $slow -Target $tgt -Table Ord').CompletionText
            $clock.Stop()
            $texts | Should -Not -Contain "'Order Lines'"
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 4
        }
        finally {
            $proxy.Dispose()
        }
    }
}
