<#
    The default views of Confiture.Format.ps1xml are in use: each output type shows its chosen
    columns in a table, and every property is one Format-List * away.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Native.Helpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function Get-Header([Parameter(ValueFromPipeline)] $InputObject) {
        begin { $all = @() }
        process { $all += $InputObject }
        end {
            # The first non-empty line of the table is its header.
            $text = $all | Format-Table | Out-String -Width 300
            (($text -split "`r?`n") | Where-Object { $_.Trim() } | Select-Object -First 1) -split '\s+' | Where-Object { $_ }
        }
    }

    $savedRendering = $PSStyle.OutputRendering
    $PSStyle.OutputRendering = 'PlainText'
    $pair = New-NativeFixture
    $fdw = $pair.FdwParameters
    $migration = Enable-ConfitureFdw -Source $pair.Source -Target $pair.Target @fdw -Confirm:$false
    $strategies = @($migration | Get-ConfitureStrategy)
    $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable orders -Confirm:$false
    $renamed = Invoke-ConfitureTableMigration -Migration $migration -SourceTable 'Order Lines' -Confirm:$false
    $verification = $result | Test-ConfitureMigration
}

AfterAll {
    if ($migration) { $migration | Remove-ConfitureFdw -Confirm:$false -ErrorAction Continue }
    if ($pair) { Remove-TestDatabasePair $pair }
    $PSStyle.OutputRendering = $savedRendering
}

Describe 'Confiture.Format.ps1xml' {
    It 'is loaded with the module' {
        (Get-Module Confiture).ExportedFormatFiles | Split-Path -Leaf | Should -Contain 'Confiture.Format.ps1xml'
        foreach ($type in 'ConfitureConnection', 'ConfitureMigration', 'ConfitureStrategy', 'ConfitureTableMigrationResult', 'ConfitureVerification', 'ConfitureCutoverReadiness', 'ConfitureReadinessItem') {
            Get-FormatData -TypeName "Confiture.PowerShell.Types.$type" | Should -Not -BeNullOrEmpty -Because "$type needs a view"
        }
    }

    It 'shows a connection as Name Host Port Database User ServerVersion, never the password' {
        $pair.Source | Get-Header | Should -Be @('Name', 'Host', 'Port', 'Database', 'User', 'ServerVersion')
        $text = $pair.Source, $pair.Target | Format-Table | Out-String
        $text | Should -Match 'source'
        $text | Should -Not -Match ([regex]::Escape($pair.MigratorPassword))
        $pair.Source | Format-List * | Out-String | Should -Not -Match ([regex]::Escape($pair.MigratorPassword))
    }

    It 'shows a session as Source Target ServerName SourceSchema ForeignSchema Tables' {
        $migration | Get-Header | Should -Be @('Source', 'Target', 'ServerName', 'SourceSchema', 'ForeignSchema', 'Tables')
        $migration | Format-Table | Out-String | Should -Match 'source\s+target\s+confiture_source_server\s+public\s+old_schema\s+4'
    }

    It 'shows a strategy as Table Strategy RowCount EstimatedSeconds' {
        $strategies | Get-Header | Should -Be @('Table', 'Strategy', 'RowCount', 'EstimatedSeconds')
        $strategies | Format-Table | Out-String | Should -Match 'Order Lines\s+Fdw\s+40\s'
    }

    It 'shows a migration result as SourceTable TargetTable Strategy Rows Elapsed Rows/s' {
        $result | Get-Header | Should -Be @('SourceTable', 'TargetTable', 'Strategy', 'Rows', 'Elapsed', 'Rows/s')
        $result, $renamed | Format-Table | Out-String | Should -Match 'orders\s+orders\s+Fdw\s+60\s+\d\d:\d\d:\d\d\.\d{3}\s+[\d,.]+'
    }

    It 'shows a verification as Table SourceCount TargetCount Match' {
        $verification | Get-Header | Should -Be @('Table', 'SourceCount', 'TargetCount', 'Match')
        $verification | Format-Table | Out-String | Should -Match 'orders\s+60\s+60\s+True'
    }

    It 'shows both names of a table verified under another name' {
        Invoke-TestSql -Side Target -Database $pair.Database -Sql "CREATE TABLE archive.orders_2020 (id int); INSERT INTO archive.orders_2020 SELECT generate_series(1, 60); ALTER TABLE archive.orders_2020 OWNER TO $($pair.MigratorUser)" | Out-Null
        Test-ConfitureMigration -Migration $migration -Table orders -TargetTable orders_2020 -TargetSchema archive |
            Format-Table | Out-String | Should -Match 'orders -> orders_2020\s+60\s+60\s+True'
    }

    It 'keeps every other property one Format-List * away' {
        $list = $result | Format-List * | Out-String
        foreach ($property in 'SourceSchema', 'TargetSchema', 'RowsMigrated', 'RowsPerSecond', 'ColumnMapping', 'Migration') {
            $list | Should -Match "(?m)^$property\s+:"
        }
        $strategies[0] | Format-List * | Out-String | Should -Match '(?m)^IsExact\s+:'
        $verification | Format-List * | Out-String | Should -Match '(?m)^Difference\s+:\s+0'
        $migration | Format-List * | Out-String | Should -Match '(?m)^FetchSize\s+:\s+10000'
    }
}
